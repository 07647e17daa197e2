// `podman-bootc rm`: remove VMs (domain, overlay, keys, logs), never the cached disk.

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

struct RmCommand: PipelineCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove VMs: their domain, overlay disk, keys and logs (the cached disk stays).",
        discussion: """
            Examples:
              podman-bootc rm web
              podman-bootc rm -f 3f2a 9c01
              podman-bootc rm -f --all
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(name: .shortAndLong, help: "Remove running VMs too (they are powered off).") var force = false
    @Flag(name: .shortAndLong, help: "Remove every VM.") var all = false
    @Argument(help: "VM names or unique ID prefixes.") var vms: [String] = []

    func validate() throws {
        if all == !vms.isEmpty { throw ValidationError(all ? "give VMs or --all, not both" : "name the VMs to remove, or pass --all") }
    }

    func run(_ context: PipelineContext) async throws {
        var failures: [Int32] = []
        for outcome in await VMManager(context: context, libvirtURI: global.libvirtURI).remove(vms, all: all, force: force) {
            switch outcome.result {
            case .success(let name): context.output.line(name)
            case .failure(let error):
                failures.append((error as? any ToolError)?.exitCode ?? ExitStatus.toolFailure)
                FileHandle.standardError.write(Data("Error: \(TerminalText.printable("\(error)"))\n".utf8))
            }
        }
        // One kind of failure keeps its code (127: every VM named is unknown); a mix is 125.
        if let first = failures.first { throw ExitCode(failures.allSatisfy { $0 == first } ? first : ExitStatus.toolFailure) }
    }
}
