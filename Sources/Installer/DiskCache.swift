// Installed disks on the host, keyed by CacheKeyInputs; entries appear whole or not at all.

import BootcCore
import Foundation
import Synchronization
internal import CXattr
import Host

/// What a cache entry holds, written last, as its sidecar: the inputs and the boot files.
public struct CacheManifest: Codable, Sendable, Equatable {
    public var key: String
    public var inputs: CacheKeyInputs
    public var kernelVersion: String
    public var artifacts: BootArtifacts
    public var created: Date

    public init(key: String, inputs: CacheKeyInputs, kernelVersion: String, artifacts: BootArtifacts, created: Date) {
        self.key = key
        self.inputs = inputs
        self.kernelVersion = kernelVersion
        self.artifacts = artifacts
        self.created = created
    }
}

public struct DiskCache: Sendable {
    public let directory: URL
    static let manifestName = "manifest.json"
    public static let partialPrefix = ".partial-"

    public init(directory: URL) { self.directory = directory }

    public func entry(for key: String) -> URL { directory.appendingPathComponent(key) }

    /// The manifest of a complete entry, or nil. An entry without its manifest is not complete.
    public func lookup(_ key: String) -> CacheManifest? {
        let url = entry(for: key).appendingPathComponent(Self.manifestName)
        guard let data = try? Data(contentsOf: url) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let manifest = try? decoder.decode(CacheManifest.self, from: data), manifest.key == key,
              FileManager.default.fileExists(atPath: manifest.artifacts.disk) else { return nil }
        // A disk whose own label names another key was put there by hand: never trust it.
        if let label = DiskKeyAttribute.read(manifest.artifacts.disk), label != key { return nil }
        return manifest
    }

    /// Every complete entry.
    public func entries() -> [CacheManifest] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.compactMap(lookup).sorted { $0.created < $1.created }
    }

    /// Bytes the entry takes on disk, its warm states included (sparse files count what is allocated).
    public func allocatedBytes(of key: String) -> UInt64 {
        DiskUsage.allocatedBytes(under: entry(for: key))
    }

    /// Removes an entry (VMs whose overlay is backed by it stop working: callers check first).
    public func remove(_ key: String) throws {
        try FileManager.default.removeItem(at: entry(for: key))
    }

    /// Marks the entry `key` in use by this process until it exits (a run holds its disk from
    /// the moment it finds it, before any VM record names it): `cache prune` leaves it alone.
    public func holdInUse(_ key: String) throws {
        let path = directory.appendingPathComponent(".\(key).use").path
        guard Self.held.withLock({ $0[path] == nil }) else { return }
        let hold = try FileLock.shared(path: path)
        Self.held.withLock { $0[path] = hold }
    }

    private static let held = Mutex<[String: FileLock]>([:])

    /// The entry's use lock if no process holds the entry in use now; nil otherwise.
    public func lockUnused(_ key: String) throws -> FileLock? {
        try FileLock.ifAvailable(path: directory.appendingPathComponent(".\(key).use").path)
    }

    /// Serializes installs of one key across processes; the kernel drops the lock if we die.
    public func lock(_ key: String) throws -> FileLock {
        try FileLock(path: directory.appendingPathComponent(".\(key).lock").path)
    }

    /// A fresh folder to build an entry in, named after this process so a later run can tell
    /// whether its builder is still alive.
    public func makePartial(for key: String) throws -> URL {
        let url = directory.appendingPathComponent("\(Self.partialPrefix)\(key)-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        chmod(url.path, StateAccess.passThroughFolder)
        return url
    }

    /// Moves a finished partial folder into place in one rename.
    public func commit(partial: URL, key: String, manifest: CacheManifest) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        var inPlace = manifest
        inPlace.artifacts = manifest.artifacts.relocated(from: partial, to: entry(for: key))
        // The key also travels with the disk itself, where the filesystem keeps xattrs.
        DiskKeyAttribute.write(key, to: manifest.artifacts.disk)
        let manifestURL = partial.appendingPathComponent(Self.manifestName)
        try encoder.encode(inPlace).write(to: manifestURL)
        chmod(manifestURL.path, StateAccess.privateFile)
        // On the disk before the name says the entry is whole: a crash after the rename must
        // not leave a published entry with a disk the page cache never wrote.
        Self.syncFiles(in: partial)
        let final = entry(for: key)
        try? FileManager.default.removeItem(at: final)
        guard rename(partial.path, final.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: final.path])
        }
        Self.sync(directory.path, flags: O_RDONLY | O_DIRECTORY)
    }

    /// fsync of every regular file directly in `folder`, then of the folder.
    public static func syncFiles(in folder: URL) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] {
            sync(folder.appendingPathComponent(name).path, flags: O_RDONLY | O_NOFOLLOW)
        }
        sync(folder.path, flags: O_RDONLY | O_DIRECTORY)
    }

    private static func sync(_ path: String, flags: Int32) {
        let fd = open(path, flags | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG || info.st_mode & S_IFMT == S_IFDIR else { return }
        fsync(fd)
    }

    /// Removes partial folders left by installs whose process is gone (killed mid-install).
    public func removeAbandonedPartials() {
        Self.removeAbandonedPartials(in: directory)
    }

    /// Removes `.partial-<key>-<pid>` folders in `folder` that nobody is writing: their
    /// writer holds the key's lock (`.<key>.lock`) for as long as it lives, in this process or
    /// in another container sharing the folder (where its PID would mean nothing here).
    public static func removeAbandonedPartials(in folder: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names where name.hasPrefix(partialPrefix) {
            let rest = name.dropFirst(partialPrefix.count)
            guard let dash = rest.lastIndex(of: "-") else { continue }
            let key = rest[..<dash]
            guard !key.isEmpty, ConfinedFolder.isSafeName(".\(key).lock"),
                  let lock = try? FileLock.ifAvailable(path: folder.appendingPathComponent(".\(key).lock").path) else { continue }
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            withExtendedLifetime(lock) {}
        }
    }
}

extension BootArtifacts {
    func relocated(from old: URL, to new: URL) -> BootArtifacts {
        func move(_ path: String) -> String {
            path.hasPrefix(old.path + "/") ? new.path + path.dropFirst(old.path.count) : path
        }
        return BootArtifacts(method: method, disk: move(disk), kernel: kernel.map(move), initrd: initrd.map(move),
                             kernelArguments: kernelArguments, bootloader: bootloader.map(move),
                             signedShim: signedShim.map(move), signedGrub: signedGrub.map(move), selinux: selinux)
    }
}

/// The cache key as an extended attribute on the disk file (as bcvk does): the disk stays
/// identifiable when copied or listed on its own. Filesystems without user xattrs (tmpfs on
/// old kernels) simply go without it; the manifest is the source of truth.
enum DiskKeyAttribute {
    static let name = "user.podman-bootc.cache-key"

    static func write(_ key: String, to path: String) {
        _ = key.withCString { value in setxattr(path, name, value, strlen(value), 0) }
    }

    static func read(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 128)
        let size = getxattr(path, name, &buffer, buffer.count - 1)
        guard size > 0 else { return nil }
        return String(decoding: buffer[..<size].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
