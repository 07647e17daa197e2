// `podman-bootc cache`: the installed disks on this host.

import ArgumentParser
import BootcCore
import Foundation
import Host
import Installer

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List and prune installed disks.",
        subcommands: [CacheList.self, CacheAdd.self, CachePrune.self])
}

/// One cache entry as `cache list` shows it.
struct CacheEntryView: Codable {
    var key: String
    var image: String
    var imageID: String
    var installer: InstallerChoice
    var diskSize: UInt64
    var allocatedBytes: UInt64
    var created: Date
    var usedBy: [String]
}

extension CacheEntryView {
    static func all(_ context: CommandContext) -> [CacheEntryView] {
        let cache = DiskCache(directory: context.locations.diskCache)
        let vms = context.vms.all()
        return cache.entries().map { entry in
            CacheEntryView(key: entry.key, image: entry.inputs.reference, imageID: entry.inputs.imageID,
                           installer: entry.inputs.installer, diskSize: entry.inputs.diskSize,
                           allocatedBytes: cache.allocatedBytes(of: entry.key), created: entry.created,
                           usedBy: vms.filter { $0.diskKey == entry.key }.map(\.name))
        }
    }
}

struct CacheList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List installed disks, what they hold and which VMs use them.",
        discussion: """
            Examples:
              podman-bootc cache list
              podman-bootc cache list --format json
            """,
        aliases: ["ls"])

    @OptionGroup var global: GlobalOptions
    @Option(help: "text or json.") var format: OutputFormat = .text

    func run() async throws {
        let entries = CacheEntryView.all(.live(options: global, quiet: true))
        switch format {
        case .json:
            print(try OutputFormat.json(entries))
        case .text:
            var rows = [["KEY", "IMAGE", "INSTALLER", "DISK", "ON DISK", "CREATED", "USED BY"]]
            let formatter = ISO8601DateFormatter()
            for e in entries {
                rows.append([String(e.key.prefix(12)), e.image, e.installer.rawValue, ByteSize(bytes: e.diskSize).description,
                             ByteSize.mebibytes(e.allocatedBytes >> 20).description, formatter.string(from: e.created),
                             e.usedBy.isEmpty ? "-" : e.usedBy.joined(separator: ",")])
            }
            print(Table.render(rows), terminator: "")
        }
    }
}

struct CachePrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove installed disks that no VM uses.",
        discussion: """
            Disks that back a VM's overlay are kept: remove the VM first.

            Examples:
              podman-bootc cache prune
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: true)
        let cache = DiskCache(directory: context.locations.diskCache)
        var freed: UInt64 = 0
        for entry in CacheEntryView.all(context) where entry.usedBy.isEmpty {
            // Hold the install lock so a run that is about to reuse the entry is not cut off.
            let lock = try cache.lock(entry.key)
            freed += entry.allocatedBytes
            try cache.remove(entry.key)
            withExtendedLifetime(lock) {}
            print(entry.key)
        }
        cache.removeAbandonedPartials()
        FileHandle.standardError.write(Data("pruned; freed \(ByteSize.mebibytes(freed >> 20))\n".utf8))
    }
}
