// cloud-init's NoCloud seed: an ISO 9660 image labelled `cidata` holding user-data,
// meta-data and network-config, made with xorriso and cached by content.

import BootcCore
import Crypto
import Foundation
import Host

public enum CloudInitError: ToolError, Equatable {
    case notAFolder(String)
    case noUserData(String)

    public var exitCode: Int32 { ExitStatus.usage }

    public var description: String {
        switch self {
        case .notAFolder(let path):
            return "--cloudinit \(path) is not a folder; give the folder that holds user-data (and meta-data, network-config)"
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
            if let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) { files.append((name, data)) }
        }
        guard files.contains(where: { $0.name == "user-data" }) else { throw CloudInitError.noUserData(directory.path) }
        let key = Self.key(files)
        if !files.contains(where: { $0.name == "meta-data" }) {
            files.append(("meta-data", Data("instance-id: podman-bootc-\(key.prefix(16))\nlocal-hostname: podman-bootc\n".utf8)))
        }
        let iso = folder.appendingPathComponent("\(key).iso")
        if FileManager.default.fileExists(atPath: iso.path) { return iso }

        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let stage = folder.appendingPathComponent(".stage-\(key)-\(getpid())")
        let partial = folder.appendingPathComponent(".partial-\(key)-\(getpid()).iso")
        defer {
            try? FileManager.default.removeItem(at: stage)
            try? FileManager.default.removeItem(at: partial)
        }
        try FileManager.default.createDirectory(at: stage, withIntermediateDirectories: true)
        for file in files { try file.data.write(to: stage.appendingPathComponent(file.name)) }
        try await runner.check(["xorriso", "-as", "mkisofs", "-quiet", "-output", partial.path, "-volid", "cidata",
                                "-joliet", "-rock", stage.path])
        chmod(partial.path, StateAccess.privateFile)
        guard rename(partial.path, iso.path) == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: iso.path]) }
        return iso
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
