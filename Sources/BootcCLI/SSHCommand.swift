// `podman-bootc ssh`: a shell or a command in a running VM, over libssh2.

import ArgumentParser
import BootcCore
import Foundation
import SSH

struct SSHCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh",
        abstract: "Open a shell in a running VM, or run a command there and exit with its status.",
        discussion: """
            Examples:
              podman-bootc ssh web
              podman-bootc ssh -l -- systemctl status
              podman-bootc ssh 3f2a -- sh -c 'exit 3'; echo $?
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: VMSelection
    @Option(name: .shortAndLong, help: "User to log in as (default: the user of `run -u`, else root; the key works for both).") var user: String?
    @Argument(parsing: .postTerminator, help: "Command to run instead of a shell.") var command: [String] = []

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: true)
        let record = try selection.record(in: context.vms)
        let runtime = try await VMRuntime.load(record, uri: global.libvirtURI)
        try runtime.requireRunning()
        let key = context.vms.privateKey(record.id)
        let login = user ?? record.sshUser
        let pin = HostKeyPin(file: context.vms.pinnedHostKey(record.id))
        let session = try await Blocking.run {
            try SSHSession(host: "127.0.0.1", port: record.sshPort, user: login, privateKey: key, timeout: .seconds(15)) {
                try pin.verify($0, vm: record.name)
            }
        }
        let commandLine = command.isEmpty ? nil : RemoteCommand.commandLine(for: command)
        let term = context.environment["TERM"] ?? "xterm-256color"
        InterruptCleanup.shared.install()
        let status = try await Blocking.run {
            if let commandLine { return try session.execute(commandLine) }
            return try session.interactiveShell(term: term)
        }
        if status != 0 { throw ExitCode(status) }
    }
}
