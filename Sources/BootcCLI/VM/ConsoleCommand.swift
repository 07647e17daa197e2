// `podman-bootc console`: the VM's serial console, live, through libvirt's stream API.

import ArgumentParser
import BootcPipeline

struct ConsoleCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Attach to a running VM's serial console (detach with Ctrl-]).",
        discussion: """
            Keys go to the guest's serial console (a login prompt on images that run a getty
            there). Ctrl-] detaches and leaves the VM running. `logs` shows what the console
            printed before you attached.

            Examples:
              podman-bootc console web
              podman-bootc console -l --force     # take the console from another client
            """)

    /// Ctrl-], as in telnet and virsh console.
    static let escapeByte: UInt8 = 0x1D

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection
    @Flag(help: "Take the console even when another client is attached.") var force = false

    func liveContext() -> PipelineContext { global.context(quiet: true, consoleStreams: true) }

    func run(_ context: PipelineContext) async throws {
        try await VMManager(context: context, libvirtURI: global.libvirtURI).console(selection.selector, escape: Self.escapeByte, force: force)
    }
}
