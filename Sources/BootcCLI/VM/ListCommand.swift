// `podman-bootc list`: the VMs, with their live state from libvirt.

import ArgumentParser
import BootcPipeline

struct ListCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List VMs (running ones; -a for all).",
        discussion: """
            STATUS comes from libvirt: a VM whose QEMU died shows as stopped.

            Examples:
              podman-bootc list
              podman-bootc list -a --format json
              podman-bootc rm -f $(podman-bootc list -aq)
            """,
        aliases: ["ls"])

    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Show stopped VMs too.") var all = false
    @Flag(name: .shortAndLong, help: "Print IDs only.") var quiet = false
    @Option(help: "text or json.") var format: OutputFormat = .text

    func run(_ context: PipelineContext) async throws {
        let views = try await VMManager(context: context, libvirtURI: global.libvirtURI).list(all: all)
        if quiet {
            views.forEach { context.output.line($0.id) }
            return
        }
        context.output.write(try Renderer.render(views, as: format))
    }
}
