// `podman-bootc cache`: the installed disks on this host.

import ArgumentParser
import BootcCore
import Foundation
import Host
import Installer

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List and prune installed disks and their saved running states.",
        subcommands: [CacheList.self, CacheAdd.self, CacheWarm.self, CachePrune.self])
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
    /// Saved running states of VMs booted from this disk (counted in `allocatedBytes`).
    var warmStates: [WarmStateView]
}

/// A saved running state as `cache list` shows it.
struct WarmStateView: Codable {
    var key: String
    var cpus: Int
    var memoryMiB: Int
    var user: String
    var accelerator: Accelerator
    var stateBytes: UInt64
    var allocatedBytes: UInt64
    var created: Date
    /// VMs restored from it: its disk backs their overlays.
    var usedBy: [String]
}

extension CacheEntryView {
    static func all(_ context: CommandContext) -> [CacheEntryView] {
        let cache = DiskCache(directory: context.locations.diskCache)
        let states = WarmStateStore(cache: cache)
        let vms = context.vms.all()
        return cache.entries().map { entry in
            let warm = states.states(diskKey: entry.key).map { state in
                WarmStateView(key: state.key, cpus: state.inputs.cpus, memoryMiB: state.inputs.memoryMiB, user: state.inputs.user,
                              accelerator: state.inputs.accelerator, stateBytes: state.stateBytes,
                              allocatedBytes: states.allocatedBytes(state), created: state.created,
                              usedBy: vms.filter { $0.warmState == state.key }.map(\.name))
            }
            return CacheEntryView(key: entry.key, image: entry.inputs.reference, imageID: entry.inputs.imageID,
                                  installer: entry.inputs.installer, diskSize: entry.inputs.diskSize,
                                  allocatedBytes: cache.allocatedBytes(of: entry.key), created: entry.created,
                                  usedBy: vms.filter { $0.diskKey == entry.key }.map(\.name), warmStates: warm)
        }
    }
}

struct CacheList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List installed disks and saved running states, what they hold and which VMs use them.",
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
                for state in e.warmStates {
                    rows.append(["  warm " + state.key.prefix(7), "running state: \(state.cpus) CPUs, \(state.memoryMiB)M, \(state.user)",
                                 state.accelerator.rawValue, "-", ByteSize.mebibytes(state.allocatedBytes >> 20).description,
                                 formatter.string(from: state.created), state.usedBy.isEmpty ? "-" : state.usedBy.joined(separator: ",")])
                }
            }
            print(Table.render(rows), terminator: "")
        }
    }
}

struct CachePrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove installed disks and saved running states that no VM uses.",
        discussion: """
            Disks and states that back a VM's overlay are kept: remove the VM first. With
            --warm, only saved running states are removed (the next run of each image boots
            cold and saves a new one).

            Examples:
              podman-bootc cache prune
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Remove only saved running states (warm starts), keep the installed disks.") var warm = false

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: true)
        let cache = DiskCache(directory: context.locations.diskCache)
        let states = WarmStateStore(cache: cache)
        var freed: UInt64 = 0
        for entry in CacheEntryView.all(context) {
            for state in entry.warmStates where state.usedBy.isEmpty && (warm || !entry.usedBy.isEmpty) {
                // A run saving the same state holds its lock: leave that one alone.
                guard let lock = try states.lockIfAvailable(state.key, diskKey: entry.key) else { continue }
                try FileManager.default.removeItem(at: states.folder(state.key, diskKey: entry.key))
                withExtendedLifetime(lock) {}
                freed += state.allocatedBytes
                print("warm \(state.key)")
            }
        }
        // Retired states (found unusable) keep their disk only while restored VMs need it.
        let inUse = Set(context.vms.all().compactMap(\.warmState))
        for entry in CacheEntryView.all(context) {
            for key in states.orphanedFolders(diskKey: entry.key) where !inUse.contains(key) {
                let folder = states.folder(key, diskKey: entry.key)
                freed += DiskUsage.allocatedBytes(under: folder)
                try FileManager.default.removeItem(at: folder)
            }
        }
        for entry in CacheEntryView.all(context) where entry.usedBy.isEmpty && !warm {
            // Hold the install lock so a run that is about to reuse the entry is not cut off.
            let lock = try cache.lock(entry.key)
            freed += entry.allocatedBytes
            try cache.remove(entry.key)
            withExtendedLifetime(lock) {}
            print(entry.key)
        }
        cache.removeAbandonedPartials()
        for entry in CacheEntryView.all(context) { states.removeAbandonedPartials(diskKey: entry.key) }
        FileHandle.standardError.write(Data("pruned; freed \(ByteSize.mebibytes(freed >> 20))\n".utf8))
    }
}
