// `podman-bootc inspect` (JSON) and `podman-bootc logs` (the serial console log).

import ArgumentParser
import BootcPipeline

struct InspectCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show everything about a VM as JSON.",
        discussion: """
            Examples:
              podman-bootc inspect web
              podman-bootc inspect -l | jq .sshPort
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection

    func run(_ context: PipelineContext) async throws {
        let inspection = try await VMManager(context: context, libvirtURI: global.libvirtURI).inspect(selection.selector)
        context.output.write(try Renderer.json(inspection))
    }
}

struct LogsCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a VM's serial console log (-f follows it).",
        discussion: """
            Examples:
              podman-bootc logs web
              podman-bootc logs -f -l
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection
    @Flag(name: .shortAndLong, help: "Keep printing what the console writes until Ctrl-C.") var follow = false

    func run(_ context: PipelineContext) async throws {
        try await VMManager(context: context, libvirtURI: global.libvirtURI).logs(selection.selector, follow: follow)
    }
}
