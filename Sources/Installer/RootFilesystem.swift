// An image's root filesystem given as a folder (e.g. `podman image mount` on the host, passed
// into podman-bootc's container): installed by the direct installer without podman.

import Crypto
import Foundation
import Podman

public enum RootFilesystem {
    /// Stands in for `podman image inspect`: the ID is a fingerprint of the tree, the size its
    /// bytes. The fingerprint hashes every entry's path, type, mode, size, modification time
    /// and link target (not contents: an image mount does not change under a fixed path
    /// without those changing, and reading 700 MB per run would cost seconds).
    public static func inspect(_ root: URL) throws -> ImageInspection {
        var hasher = SHA256()
        var total: UInt64 = 0
        let rootPath = root.standardizedFileURL.path
        var entries: [(String, String)] = []
        guard let walker = FileManager.default.enumerator(atPath: rootPath) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: rootPath])
        }
        while let relative = walker.nextObject() as? String {
            var info = stat()
            guard lstat(rootPath + "/" + relative, &info) == 0 else { continue }
            var line = "\(info.st_mode) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
            if info.st_mode & S_IFMT == S_IFLNK {
                line += " " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: rootPath + "/" + relative)) ?? "")
            } else if info.st_mode & S_IFMT == S_IFREG {
                total += UInt64(info.st_size)
            }
            entries.append((relative, line))
        }
        hasher.update(data: Data("podman-bootc-rootfs-v1\n".utf8))
        for (path, line) in entries.sorted(by: { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }) {
            hasher.update(data: Data("\(path)\0\(line)\n".utf8))
        }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        return ImageInspection(id: "rootfs-" + digest, digest: "sha256:" + digest, repoTags: [rootPath], size: total)
    }

    /// A folder that holds a bootable root filesystem (a kernel where KernelLocator looks).
    public static func looksBootable(_ folder: URL) -> Bool {
        KernelLocator.locate(in: folder) != nil
    }
}
