// `podman-bootc cache add`: install an image's disk ahead of time (or find it cached).

import ArgumentParser
import BootcPipeline

struct CacheAdd: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Install an image into the disk cache without booting it; prints the cache key.",
        discussion: """
            A later `run` with the same options reuses the disk. Useful to warm CI caches.
            IMAGE may also be a folder with a Containerfile or a quadlet .build unit: it is
            built first when its invariance hash says so, as `run` does.

            Examples:
              podman-bootc cache add localhost/podman-bootc-test:debian
              podman-bootc cache add ./images/debian
              podman-bootc cache add --installer bootc --filesystem xfs quay.io/fedora/fedora-bootc:42
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var disk: DiskOptions
    @Flag(name: .shortAndLong, help: "Print no progress, only errors.") var quiet = false
    @Option(help: ArgumentHelp("images.yml of a layer-generator project, for IMAGE given as an image name there.", valueName: "file")) var config: String?
    @Argument(help: "The image, as `run` takes it: a reference in rootful podman storage, an images.yml image, a folder with a Containerfile, a .build unit, or a root filesystem folder.") var image: String

    func liveContext() -> PipelineContext { global.context(quiet: quiet) }

    func run(_ context: PipelineContext) async throws {
        context.output.line(try await RunSequence(context: context).installDisk(image, config: config, choices: disk.choices))
    }
}
