// An exclusive advisory lock on a file, held until released or the process dies.

import Foundation

public final class FileLock: Sendable {
    private let fd: Int32

    /// Blocks until the lock at `path` is ours. The kernel releases it if we are killed,
    /// so a crashed install never leaves a lock behind.
    public init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                close(fd)
                throw CocoaError(.fileLocking, userInfo: [NSFilePathErrorKey: path])
            }
        }
    }

    private init(fd: Int32) { self.fd = fd }

    /// A shared hold on the lock at `path`, taken as soon as no one holds it exclusively:
    /// many holders at once, and `ifAvailable` fails for everyone else while any is held.
    /// Polled, not blocking: a holder that never lets go cannot keep a cancelled run waiting.
    public static func shared(path: String) throws -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        while flock(fd, LOCK_SH | LOCK_NB) != 0 {
            guard errno == EINTR || errno == EWOULDBLOCK, !Task.isCancelled else {
                close(fd)
                if Task.isCancelled { throw CancellationError() }
                throw CocoaError(.fileLocking, userInfo: [NSFilePathErrorKey: path])
            }
            usleep(50_000)
        }
        return FileLock(fd: fd)
    }

    /// The lock at `path` if it is free now, else nil (someone else holds it).
    public static func ifAvailable(path: String) throws -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return FileLock(fd: fd)
    }

    deinit { close(fd) }
}
