// Saved running states: keys, lookup (ready, stale, none), commit and retirement, on real files.

import BootcCore
import Foundation
@testable import BootcPipeline
import Installer
import Testing

@Suite struct WarmStateStoreTests {
    static func inputs(qemu: UInt = 7_002_022, memory: Int = 2048, user: String = "root") -> WarmStateInputs {
        WarmStateInputs(diskKey: "d1sk", user: user, cpus: 2, memoryMiB: memory, architecture: .x86_64, accelerator: .tcg,
                        domainShapeXML: "<domain/>", qemuVersion: qemu, libvirtVersion: 9_000_000, toolVersion: "0.1.0")
    }

    func withStore(_ body: (WarmStateStore) throws -> Void) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("warm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try body(WarmStateStore(cache: DiskCache(directory: root)))
    }

    func save(_ inputs: WarmStateInputs, in store: WarmStateStore) throws -> WarmStateManifest {
        let partial = try store.makePartial(inputs.key, diskKey: inputs.diskKey)
        try Data("state".utf8).write(to: partial.state)
        let sum = try WarmStateStore.checksum(of: partial.state)
        let manifest = WarmStateManifest(inputs: inputs, stateBytes: sum.bytes, stateSHA256: sum.sha256, templateName: "t",
                                         kernelArguments: [], oemStrings: [], credentialNames: [], hasNVRAM: false, created: Date(timeIntervalSince1970: 1_800_000_000))
        try store.commit(partial, manifest: manifest)
        return manifest
    }

    @Test func keyDependsOnEveryInput() {
        let base = Self.inputs()
        #expect(base.key == Self.inputs().key)
        #expect(base.key != Self.inputs(qemu: 8_002_000).key)
        #expect(base.key != Self.inputs(memory: 4096).key)
        #expect(base.key != Self.inputs(user: "dev").key)
    }

    @Test func checksumIsSHA256OfTheFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sum-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("abc".utf8).write(to: file)
        let sum = try WarmStateStore.checksum(of: file)
        #expect(sum.bytes == 3)
        #expect(sum.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func lookupFindsReadyStaleOrNothing() throws {
        try withStore { store in
            #expect(store.lookup(Self.inputs()) == .none)
            let saved = try save(Self.inputs(), in: store)
            #expect(store.lookup(Self.inputs()) == .ready(saved))
            // Same VM shape, another QEMU: stale, with the reason in words.
            guard case .stale(let stale, let reason) = store.lookup(Self.inputs(qemu: 8_002_000)) else {
                Issue.record("a state from another QEMU must be stale")
                return
            }
            #expect(stale == saved)
            #expect(reason == "QEMU 7.2.22 -> 8.2.0")
            // Another shape is simply not there.
            #expect(store.lookup(Self.inputs(memory: 4096)) == .none)
            #expect(store.states(diskKey: "d1sk").count == 1)
        }
    }

    @Test func partialFoldersAreNeverStates() throws {
        try withStore { store in
            let lock = try store.lockIfAvailable(Self.inputs().key, diskKey: "d1sk")
            let partial = try store.makePartial(Self.inputs().key, diskKey: "d1sk")
            try Data("half".utf8).write(to: partial.state)
            #expect(store.lookup(Self.inputs()) == .none)
            // Its writer holds the key's lock: kept. Once the lock is gone, it is abandoned.
            store.removeAbandonedPartials(diskKey: "d1sk")
            #expect(FileManager.default.fileExists(atPath: partial.folder.path))
            withExtendedLifetime(lock) {}
            _ = consume lock
            store.removeAbandonedPartials(diskKey: "d1sk")
            #expect(!FileManager.default.fileExists(atPath: partial.folder.path))
        }
    }

    @Test func retiredStateKeepsItsDiskUntilPruned() throws {
        try withStore { store in
            let saved = try save(Self.inputs(), in: store)
            try Data("disk".utf8).write(to: store.files(saved).disk)
            try store.retire(saved)
            #expect(store.lookup(Self.inputs()) == .none)
            #expect(FileManager.default.fileExists(atPath: store.files(saved).disk.path))
            #expect(!FileManager.default.fileExists(atPath: store.files(saved).state.path))
            #expect(store.orphanedFolders(diskKey: "d1sk") == [saved.key])
        }
    }
}
