// Cache keys and the all-or-nothing cache entries.

import BootcCore
import Foundation
@testable import Installer
import Testing

@Suite struct DiskCacheTests {
    let inputs = CacheKeyInputs(imageID: "5f2c", imageDigest: "sha256:abcd", reference: "localhost/x:1",
                                installer: .direct, diskSize: 10 << 30, architecture: .x86_64)

    @Test func keyIsTheHashOfCanonicalJSON() {
        let json = String(decoding: inputs.canonicalJSON, as: UTF8.self)
        #expect(json == #"{"architecture":"x86_64","diskSize":10737418240,"format":3,"imageDigest":"sha256:abcd","imageID":"5f2c","installer":"direct","kernelArguments":[],"reference":"localhost/x:1"}"#)
        #expect(inputs.key.count == 64)
        #expect(inputs.key == inputs.key)
    }

    @Test func everyInputChangesTheKey() {
        var other = inputs
        other.imageID = "6000"
        #expect(other.key != inputs.key)
        other = inputs
        other.diskSize += 1 << 20
        #expect(other.key != inputs.key)
        other = inputs
        other.architecture = .aarch64
        #expect(other.key != inputs.key)
    }

    /// An entry held in use (a run found it) cannot be locked for removal by anyone else
    /// (flock: another descriptor, in this process or another) for as long as the holder lives.
    @Test func anEntryHeldInUseIsNotFreeForPruning() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = DiskCache(directory: dir)
        let free = try cache.lockUnused("k-other")
        #expect(free != nil)
        try cache.holdInUse("k-held")
        try cache.holdInUse("k-held")
        #expect(try cache.lockUnused("k-held") == nil)
    }

    @Test func entriesAppearWholeAndPartialsOfDeadProcessesGo() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = DiskCache(directory: dir)
        let key = inputs.key

        let partial = try cache.makePartial(for: key)
        try Data("disk".utf8).write(to: partial.appendingPathComponent("disk.raw"))
        #expect(cache.lookup(key) == nil)

        let manifest = CacheManifest(
            key: key, inputs: inputs, kernelVersion: "6.1",
            artifacts: BootArtifacts(method: .directKernel, disk: partial.appendingPathComponent("disk.raw").path,
                                     kernel: partial.appendingPathComponent("vmlinuz").path, initrd: nil, kernelArguments: ["rw"]),
            created: Date())
        try cache.commit(partial: partial, key: key, manifest: manifest)
        let found = try #require(cache.lookup(key))
        #expect(found.artifacts.disk == cache.entry(for: key).appendingPathComponent("disk.raw").path)
        #expect(!FileManager.default.fileExists(atPath: partial.path))

        // The disk carries its key as an xattr where the filesystem has them; a disk
        // labelled with another key is not served.
        if let label = DiskKeyAttribute.read(found.artifacts.disk) {
            #expect(label == key)
            DiskKeyAttribute.write(String(repeating: "0", count: 64), to: found.artifacts.disk)
            #expect(cache.lookup(key) == nil)
            DiskKeyAttribute.write(key, to: found.artifacts.disk)
        }

        // A partial nobody holds the key's lock for is removed; one whose writer holds it stays
        // (a lock, not a PID: PIDs mean nothing across containers sharing the folder).
        let dead = dir.appendingPathComponent(".partial-\(key)-2147483646")
        try FileManager.default.createDirectory(at: dead, withIntermediateDirectories: true)
        let writing = try cache.lock("other")
        defer { withExtendedLifetime(writing) {} }
        let alive = try cache.makePartial(for: "other")
        cache.removeAbandonedPartials()
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: alive.path))
    }
}
