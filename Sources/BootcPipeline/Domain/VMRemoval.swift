// Removing a VM: its domain, its remote volumes, its folder; one removal at a time.

import BootcCore
import Host

/// Removes a VM: its domain (if still there) and its folder. Never the cached disk.
/// Serialized: a deadline or a signal may remove the VM while the run's own cleanup does.
enum VMRemoval {
    private static let lock = AsyncLock()

    static func remove(_ record: VMRecord, domain: (any VirtualMachineDomain)?, store: VMStore,
                       remoteStorage: (any HostStoragePool)? = nil) async {
        await lock.withLock {
            try? await domain?.remove()
            await remoteStorage?.removeVolumes(ofVM: record.id)
            store.remove(record.id)
        }
    }
}

/// A lock held across suspension points (NSLock must not be).
actor AsyncLock {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        if held {
            await withCheckedContinuation { waiting.append($0) }
        }
        held = true
        defer {
            if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
