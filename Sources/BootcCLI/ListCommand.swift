// `podman-bootc list`: the VMs, with their live state from libvirt.

import ArgumentParser
import BootcCore
import Foundation

struct VMView: Codable {
    var id: String
    var name: String
    var image: String
    var status: VMStatus
    var ssh: String
    var cpus: Int
    var memoryMiB: Int
    var diskBytes: UInt64
    var created: Date
}

struct ListCommand: AsyncParsableCommand {
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

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: true)
        var views: [VMView] = []
        for record in context.vms.all() {
            let runtime = try await VMRuntime.load(record, uri: global.libvirtURI)
            let status = runtime.status
            guard all || status == .running else { continue }
            var info = stat()
            let disk = stat(context.vms.overlay(record.id).path, &info) == 0 ? UInt64(info.st_blocks) * 512 : 0
            views.append(VMView(id: record.id, name: record.name, image: record.image, status: status,
                                ssh: "127.0.0.1:\(record.sshPort)", cpus: record.cpus, memoryMiB: record.memoryMiB,
                                diskBytes: disk, created: record.created))
        }
        if quiet {
            views.forEach { print($0.id) }
            return
        }
        switch format {
        case .json:
            print(try OutputFormat.json(views))
        case .text:
            var rows = [["ID", "NAME", "IMAGE", "STATUS", "SSH", "CPUS", "MEMORY", "DISK", "CREATED"]]
            let formatter = ISO8601DateFormatter()
            for v in views {
                rows.append([v.id, v.name, v.image, v.status.rawValue, v.ssh, String(v.cpus), "\(v.memoryMiB)M",
                             "\(v.diskBytes >> 20)M", formatter.string(from: v.created)])
            }
            print(Table.render(rows), terminator: "")
        }
    }
}
