// The disk cache as `cache list` and `cache prune` see it: installed disks, their saved
// running states, and which VMs use them.

import BootcCore
import Foundation
import Host
import Installer

/// One cache entry as `cache list` shows it.
package struct CacheEntryView: Codable, Sendable, Equatable {
    package var key: String
    package var image: String
    package var imageID: String
    package var installer: InstallerChoice
    package var diskSize: UInt64
    package var allocatedBytes: UInt64
    package var created: Date
    package var usedBy: [String]
    /// Saved running states of VMs booted from this disk (counted in `allocatedBytes`).
    package var warmStates: [WarmStateView]
}

/// A saved running state as `cache list` shows it.
package struct WarmStateView: Codable, Sendable, Equatable {
    package var key: String
    package var cpus: Int
    package var memoryMiB: Int
    package var user: String
    package var accelerator: Accelerator
    package var stateBytes: UInt64
    package var allocatedBytes: UInt64
    package var created: Date
    /// VMs restored from it: its disk backs their overlays.
    package var usedBy: [String]
}

/// What `cache prune` removed.
package struct PruneResult: Sendable {
    /// Cache keys of removed disks, and "warm KEY" for removed states, in removal order.
    package var removed: [String] = []
    package var freedBytes: UInt64 = 0
}

package struct CacheInventory: Sendable {
    package let context: PipelineContext

    package init(context: PipelineContext) { self.context = context }

    private var cache: DiskCache { DiskCache(directory: context.locations.diskCache) }

    package func entries() -> [CacheEntryView] {
        let cache = self.cache
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

    /// Removes disks and states no VM uses (with `warmOnly`, only states). Disks and states
    /// that back a VM's overlay stay; so does anything another run holds the lock of.
    package func prune(warmOnly: Bool) throws -> PruneResult {
        let cache = self.cache
        let states = WarmStateStore(cache: cache)
        var result = PruneResult()
        for entry in entries() {
            for state in entry.warmStates where state.usedBy.isEmpty && (warmOnly || !entry.usedBy.isEmpty) {
                // A run saving the same state holds its lock: leave that one alone.
                guard let lock = try states.lockIfAvailable(state.key, diskKey: entry.key) else { continue }
                try FileManager.default.removeItem(at: states.folder(state.key, diskKey: entry.key))
                withExtendedLifetime(lock) {}
                result.freedBytes += state.allocatedBytes
                result.removed.append("warm \(state.key)")
            }
        }
        // Retired states (found unusable) keep their disk only while restored VMs need it.
        let inUse = Set(context.vms.all().compactMap(\.warmState))
        for entry in entries() {
            for key in states.orphanedFolders(diskKey: entry.key) where !inUse.contains(key) {
                let folder = states.folder(key, diskKey: entry.key)
                result.freedBytes += DiskUsage.allocatedBytes(under: folder)
                try FileManager.default.removeItem(at: folder)
            }
        }
        for entry in entries() where entry.usedBy.isEmpty && !warmOnly {
            // A run that found the entry holds it in use until it exits (its VM record may not
            // exist yet); then the install lock, so a run about to install it is not cut off.
            guard let unused = try cache.lockUnused(entry.key) else { continue }
            defer { withExtendedLifetime(unused) {} }
            if context.vms.all().contains(where: { $0.diskKey == entry.key }) { continue }
            let lock = try cache.lock(entry.key)
            result.freedBytes += entry.allocatedBytes
            try cache.remove(entry.key)
            withExtendedLifetime(lock) {}
            result.removed.append(entry.key)
        }
        cache.removeAbandonedPartials()
        for entry in entries() { states.removeAbandonedPartials(diskKey: entry.key) }
        // Remembered image facts (a few bytes per image ever run): read again when needed.
        if !warmOnly { try? FileManager.default.removeItem(at: context.locations.diskCache.appendingPathComponent(".facts")) }
        return result
    }
}
