// Who may read podman-bootc's state: its owner, and QEMU's user for what a running VM uses.

import Foundation
import Synchronization

/// Installed disks hold an image's whole filesystem (its /etc/shadow too), overlays hold what a
/// VM wrote, logs and keys are the VM's: none of it is for other local users. Files are created
/// private (umask 077, also for qemu-img, mkfs and the other programs we run); folders that
/// QEMU's user must pass through are 0711 (enter, never list); libvirt's DAC driver gives the
/// files a running VM uses to QEMU's user itself.
public enum StateAccess {
    public static let passThroughFolder: mode_t = 0o711
    public static let privateFolder: mode_t = 0o700
    public static let privateFile: mode_t = 0o600

    private static let startUmask = Mutex<mode_t?>(nil)

    /// Makes every file this process (and its children) creates private. Call once, first.
    public static func restrictUmask() {
        startUmask.withLock { saved in
            let previous = umask(0o077)
            if saved == nil { saved = previous }
        }
    }

    /// The umask the user started us with: files the user asked for (artifacts, logs,
    /// reports) get the modes the user's own programs would give them.
    public static var userUmask: mode_t { startUmask.withLock { $0 } ?? 0o022 }

    /// Runs `body` with the user's umask: for files written into the user's own folders (a
    /// project's .build/, a new layer, a report). Nothing else creates files meanwhile.
    @discardableResult
    public static func withUserUmask<T>(_ body: () throws -> T) rethrows -> T {
        let restricted = umask(userUmask)
        defer { umask(restricted) }
        return try body()
    }

    /// Mode `mode` as the user's umask leaves it.
    public static func userMode(_ mode: mode_t) -> mode_t { mode & ~userUmask }

    /// Takes group and other access away from state an earlier version wrote (0755 folders,
    /// 0644 disks). Every time, not once: an older version run in between loosens it again.
    /// A walk of lstat calls (the state holds tens of entries); links are never followed.
    public static func tighten(_ root: URL) {
        var pending = [root.path]
        while let folder = pending.popLast() {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { continue }
            for name in names {
                let path = folder + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    if info.st_mode & 0o077 != 0 && info.st_mode & 0o7777 != passThroughFolder { chmod(path, passThroughFolder) }
                    pending.append(path)
                case S_IFREG:
                    if info.st_mode & 0o077 != 0 { chmod(path, info.st_mode & 0o700) }
                default:
                    continue
                }
            }
        }
    }
}
