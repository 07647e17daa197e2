// `podman-bootc images`: the images in rootful podman storage that podman-bootc can boot.

import ArgumentParser
import BootcPipeline

struct ImagesCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List images podman-bootc can boot: bootc images, and images with a kernel.",
        discussion: """
            Examples:
              podman-bootc images
              podman-bootc images --format json
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "text or json.") var format: OutputFormat = .text

    func run(_ context: PipelineContext) async throws {
        context.output.write(try Renderer.render(try await ImageCatalog(context: context).bootableImages(), as: format))
    }
}
