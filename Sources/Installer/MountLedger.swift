// Image mounts held by podman-bootc processes, so a process that dies with an image mounted
// (killed, crashed) does not leave it mounted for good: the next run unmounts it.

import Foundation
import Host
import Podman

/// Each mount is a file in `folder`, locked for as long as its process holds the mount. An
/// unlocked file is a mount whose process is gone; `sweep` undoes it (podman counts mounts,
/// so one unmount undoes exactly the dead process's one).
public struct MountLedger: Sendable {
    public let folder: URL
    let podman: Podman

    public init(folder: URL, podman: Podman) {
        self.folder = folder
        self.podman = podman
    }

    /// Runs `body` with the image's root filesystem mounted read-only, recorded in the ledger.
    public func withMountedImage<T: Sendable>(_ imageID: String, _ body: (URL) async throws -> T) async throws -> T {
        await sweep()
        guard imageID.allSatisfy(\.isHexDigit), !imageID.isEmpty else {
            return try await podman.withMountedImage(imageID, body)
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let name = "\(imageID)-\(UUID().uuidString)"
        // Locked under a temporary name first: a sweeper never sees an entry it could take
        // for abandoned before its owner holds the lock.
        let staging = folder.appendingPathComponent(".\(name)")
        let entry = folder.appendingPathComponent(name)
        let lock = try FileLock(path: staging.path)
        guard rename(staging.path, entry.path) == 0 else {
            unlink(staging.path)
            return try await podman.withMountedImage(imageID, body)
        }
        defer {
            unlink(entry.path)
            withExtendedLifetime(lock) {}
        }
        return try await podman.withMountedImage(imageID, body)
    }

    /// Unmounts what dead processes left mounted.
    public func sweep() async {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names {
            let path = folder.appendingPathComponent(name).path
            guard let lock = try? FileLock.ifAvailable(path: path) else { continue }
            // A staging name was never mounted under: its owner died before the rename.
            if !name.hasPrefix("."), let imageID = name.split(separator: "-").first, imageID.allSatisfy(\.isHexDigit) {
                await podman.unmountImage(String(imageID))
            }
            unlink(path)
            withExtendedLifetime(lock) {}
        }
    }
}
