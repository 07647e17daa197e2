// cloud-init's NoCloud seed: an ISO 9660 image labelled `cidata` holding user-data,
// meta-data and network-config, made with xorriso and cached by content.

import BootcCore
import Crypto
import Foundation
import Host

public enum CloudInitError: ToolError, Equatable {
    case notAFolder(String)
    case noUserData(String)
    case unusableFile(String, limit: Int)

    public var exitCode: Int32 { ExitStatus.usage }

    public var description: String {
        switch self {
        case .notAFolder(let path):
            return "--cloudinit \(path) is not a folder; give the folder that holds user-data (and meta-data, network-config)"
        case .unusableFile(let path, let limit):
            return "\(path) is not a regular file of at most \(limit >> 20) MiB that podman-bootc may read (links are not followed); cloud-init's user-data, meta-data and network-config are small text files"
        case .noUserData(let path):
            return "\(path) has no user-data file, which cloud-init needs; see the cloud-init/ folder of podman-bootc for an example"
        }
    }
}

public struct CloudInitSeed: Sendable {
    public static let fileNames = ["user-data", "meta-data", "network-config"]
    let runner: any ProcessRunner
    /// Where seeds are kept, one per content: `<sha256>.iso`.
    let folder: URL

    public init(runner: any ProcessRunner, folder: URL) {
        self.runner = runner
        self.folder = folder
    }

    /// The seed for `directory`, made only when its content has not been seen before.
    /// Without meta-data, one is written with an instance-id derived from the content, so
    /// cloud-init treats changed user-data as a new instance.
    public func iso(for directory: URL) async throws -> URL {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw CloudInitError.notAFolder(directory.path)
        }
        var files: [(name: String, data: Data)] = []
        for name in Self.fileNames {
            if let data = try Self.read(directory.appendingPathComponent(name)) { files.append((name, data)) }
        }
        guard files.contains(where: { $0.name == "user-data" }) else { throw CloudInitError.noUserData(directory.path) }
        let key = Self.key(files)
        if !files.contains(where: { $0.name == "meta-data" }) {
            files.append(("meta-data", Data("instance-id: podman-bootc-\(key.prefix(16))\nlocal-hostname: podman-bootc\n".utf8)))
        }
        let iso = folder.appendingPathComponent("\(key).iso")
        if FileManager.default.fileExists(atPath: iso.path) { return iso }

        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        Self.removeAbandonedWork(in: folder)
        // A name no other podman-bootc picks (PIDs repeat across containers sharing the cache).
        var template = Array(folder.appendingPathComponent(".work-XXXXXX").path.utf8CString)
        guard mkdtemp(&template) != nil else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: folder.path])
        }
        let work = URL(fileURLWithPath: String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
        defer { try? FileManager.default.removeItem(at: work) }
        let stage = work.appendingPathComponent("cidata"), partial = work.appendingPathComponent("seed.iso")
        try FileManager.default.createDirectory(at: stage, withIntermediateDirectories: true)
        for file in files { try file.data.write(to: stage.appendingPathComponent(file.name)) }
        try await runner.check(["xorriso", "-as", "mkisofs", "-quiet", "-output", partial.path, "-volid", "cidata",
                                "-joliet", "-rock", stage.path])
        chmod(partial.path, StateAccess.privateFile)
        // Whole on the disk before its name says it is made (a crash must not leave a short seed).
        DiskCache.syncFiles(in: work)
        guard rename(partial.path, iso.path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: iso.path]) }
        return iso
    }

    /// What cloud-init reads of a seed is small; a larger file, a FIFO or a device is a mistake.
    static let fileLimit = 16 << 20

    /// A seed file's bytes: nil when absent; a regular file of at most `fileLimit` bytes.
    static func read(_ url: URL) throws -> Data? {
        // Never through a link: under sudo, a folder someone else made could point user-data
        // at a file only root may read, and the guest would get it.
        let fd = open(url.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw CloudInitError.unusableFile(url.path, limit: fileLimit)
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size <= fileLimit else {
            throw CloudInitError.unusableFile(url.path, limit: fileLimit)
        }
        let data = try handle.read(upToCount: fileLimit + 1) ?? Data()
        guard data.count <= fileLimit else { throw CloudInitError.unusableFile(url.path, limit: fileLimit) }
        return data
    }

    /// Work folders of seeds being made: any older than an hour belongs to a process that died
    /// (making a seed takes seconds).
    static func removeAbandonedWork(in folder: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names where name.hasPrefix(".work-") || name.hasPrefix(".stage-") || name.hasPrefix(".partial-") {
            let path = folder.appendingPathComponent(name)
            var info = stat()
            guard lstat(path.path, &info) == 0, time(nil) - info.st_mtim.tv_sec > 3600 else { continue }
            try? FileManager.default.removeItem(at: path)
        }
    }

    /// sha256 over each present file's name, length and bytes, in a fixed order.
    static func key(_ files: [(name: String, data: Data)]) -> String {
        var hasher = SHA256()
        hasher.update(data: Data("podman-bootc-cidata-v1\n".utf8))
        for file in files.sorted(by: { $0.name < $1.name }) {
            hasher.update(data: Data("\(file.name) \(file.data.count)\n".utf8))
            hasher.update(data: file.data)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
