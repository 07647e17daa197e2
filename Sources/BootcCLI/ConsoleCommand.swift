// `podman-bootc console`: the VM's serial console, live, through libvirt's stream API.

import ArgumentParser
import BootcCore
import Foundation
import Host
import Libvirt

struct ConsoleCommand: AsyncParsableCommand {
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

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: true)
        let record = try selection.record(in: context.vms)
        // Stream events need libvirt's event loop, registered before the connection opens.
        LibvirtEventLoop.registered
        let runtime = try await VMRuntime.load(record, uri: global.libvirtURI)
        try runtime.requireRunning()
        guard let domain = runtime.domain else { throw VMStateError.domainMissing(name: record.name) }
        InterruptCleanup.shared.install()
        let interactive = isatty(STDIN_FILENO) == 1
        if interactive {
            FileHandle.standardError.write(Data("Connected to the console of \(record.name); detach with Ctrl-]\r\n".utf8))
        }
        let force = force
        let end = try await Blocking.run {
            let terminal = RawTerminal(fd: STDIN_FILENO)
            defer { terminal?.restore() }
            return try domain.attachConsole(input: STDIN_FILENO, output: STDOUT_FILENO, escape: Self.escapeByte, force: force)
        }
        switch end {
        case .detached, .inputClosed:
            if interactive { FileHandle.standardError.write(Data("\nDetached from \(record.name) (still running)\n".utf8)) }
        case .closed:
            throw VMStateError.consoleClosed(name: record.name)
        }
    }
}
