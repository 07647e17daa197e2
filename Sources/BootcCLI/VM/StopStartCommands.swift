// `podman-bootc stop` and `podman-bootc start`.

import ArgumentParser
import BootcPipeline
import Foundation

struct StopCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Shut a VM down (ACPI, then power off after --timeout; --force powers off at once).",
        discussion: """
            The VM and its disk stay; `podman-bootc start` boots it again.

            Examples:
              podman-bootc stop web
              podman-bootc stop --force -l
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection
    @Flag(name: .shortAndLong, help: "Power off at once.") var force = false
    @Option(help: "How long to wait for a clean shutdown before powering off (default: 60s).", transform: ArgumentValue.duration(example: "60s"))
    var timeout: Duration = .seconds(60)

    func run(_ context: PipelineContext) async throws {
        context.output.line(try await VMManager(context: context, libvirtURI: global.libvirtURI).stop(selection.selector, force: force, timeout: timeout))
    }
}

struct StartCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Boot a stopped VM again, with its own disk, and wait for SSH (unless -B).",
        discussion: """
            Examples:
              podman-bootc start web && podman-bootc ssh web
              podman-bootc start -B -l
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection
    @Flag(name: [.customShort("B"), .long], help: "Return once the VM starts; do not wait for SSH.") var background = false
    @Flag(name: .shortAndLong, help: "Print no progress.") var quiet = false
    @Option(help: "How long to wait for SSH (default: 5m).", transform: ArgumentValue.duration(example: "300s, 5m"))
    var sshTimeout: Duration = .seconds(300)

    func liveContext() -> PipelineContext { global.context(quiet: quiet) }

    func run(_ context: PipelineContext) async throws {
        let manager = VMManager(context: context, libvirtURI: global.libvirtURI)
        context.output.line(try await manager.start(selection.selector, sshTimeout: background ? nil : sshTimeout))
    }
}
