// `podman-bootc rm`: remove VMs (domain, overlay, keys, logs), never the cached disk.

import ArgumentParser
import BootcCore
import Foundation

struct RmCommand: AsyncParsableCommand {
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

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: true)
        let store = context.vms
        let resolver = VMResolver(store: store)
        var failures: [Int32] = []
        let records: [Result<VMRecord, Error>] = all ? store.all().map { .success($0) } : vms.map { query in Result { try resolver.resolve(query) } }
        for entry in records {
            do {
                let record = try entry.get()
                let runtime = try await VMRuntime.load(record, uri: global.libvirtURI)
                if runtime.status == .running && !force { throw VMStateError.running(name: record.name) }
                try await Blocking.run { try store.removeVM(runtime) }
                print(record.name)
            } catch {
                failures.append((error as? any ToolError)?.exitCode ?? ExitStatus.toolFailure)
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            }
        }
        // One kind of failure keeps its code (127: every VM named is unknown); a mix is 125.
        if let first = failures.first { throw ExitCode(failures.allSatisfy { $0 == first } ? first : ExitStatus.toolFailure) }
    }
}
