// `podman-bootc ssh`: a shell or a command in a running VM, over libssh2.

import ArgumentParser
import BootcCore
import BootcPipeline

struct SSHCommand: PipelineCommand {
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

    func run(_ context: PipelineContext) async throws {
        let status = try await VMManager(context: context, libvirtURI: global.libvirtURI).ssh(selection.selector, user: user, command: command)
        if status != 0 { throw ExitCode(ExitStatus.guestCommand(status)) }
    }
}
