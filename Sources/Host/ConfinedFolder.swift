// A folder reached without following a symbolic link anywhere on its path, in which entries
// are only ever created new: what `run --artifact` and `--logs` write into, and (with the
// reading side in ConfinedFolderReading.swift) a project folder's files.

import BootcCore
import Foundation

public struct ConfinedPathError: ToolError {
    public var path: String
    public var reason: String
    /// What the user can do about it.
    public var hint: String

    public static let artifactsHint = "podman-bootc writes artifacts and logs only into real folders, never through a symbolic link; give a path without links"
    public static let projectHint = "podman-bootc reads and writes a project's files (images.yml, layers/, templates/, .build/) only as real files and folders, never through a symbolic link"

    public init(path: String, reason: String, hint: String = ConfinedPathError.artifactsHint) {
        self.path = path
        self.reason = reason
        self.hint = hint
    }

    public var description: String { hint.isEmpty ? "\(path) \(reason)" : "\(path) \(reason): \(hint)" }
}

/// An open folder. Every step into it is an `openat` with O_NOFOLLOW, so a link planted in
/// the path (by another local user, or by an earlier copy) is refused, not followed.
public final class ConfinedFolder: @unchecked Sendable {
    public let path: String
    let fd: Int32

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Opens the folder at the absolute `path`, creating missing components with `mode`.
    public convenience init(creating path: String, mode: mode_t) throws {
        guard path.hasPrefix("/") else { throw ConfinedPathError(path: path, reason: "is not an absolute path") }
        let root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { throw ConfinedPathError(path: "/", reason: "cannot be opened") }
        var folder = ConfinedFolder(fd: root, path: "")
        for component in path.split(separator: "/") where component != "." {
            guard component != ".." else { throw ConfinedPathError(path: path, reason: "contains ..") }
            folder = try folder.subfolder(String(component), mode: mode)
        }
        self.init(fd: dup(folder.fd), path: folder.path.isEmpty ? "/" : folder.path)
    }

    func child(_ name: String) -> String { path + "/" + name }

    /// The sub-folder `name`, created with `mode` when missing; a link or file there is refused.
    public func subfolder(_ name: String, mode: mode_t) throws -> ConfinedFolder {
        try Self.checkName(name, in: self)
        if mkdirat(fd, name, mode) != 0 && errno != EEXIST {
            throw ConfinedPathError(path: child(name), reason: "cannot be created (\(String(cString: strerror(errno))))")
        }
        let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard sub >= 0 else {
            let reason = errno == ELOOP || isLink(name) ? "is a symbolic link" : "is not a folder (\(String(cString: strerror(errno))))"
            throw ConfinedPathError(path: child(name), reason: reason)
        }
        return ConfinedFolder(fd: sub, path: child(name))
    }

    /// A new file `name` open for writing (`O_EXCL`: never an existing file or a link's target).
    /// With `replacing`, a file or link already there is removed first (the link itself,
    /// not what it points to); a folder there is refused.
    public func createFile(_ name: String, mode: mode_t, replacing: Bool) throws -> FileDescriptorHandle {
        try Self.checkName(name, in: self)
        for attempt in 0..<2 {
            let file = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if file >= 0 {
                fchmod(file, mode)
                return FileDescriptorHandle(fd: file, path: child(name))
            }
            guard errno == EEXIST, replacing, attempt == 0 else { break }
            guard unlinkat(fd, name, 0) == 0 else {
                throw ConfinedPathError(path: child(name), reason: "exists and cannot be replaced (\(String(cString: strerror(errno))))")
            }
        }
        let reason = errno == EEXIST ? "exists already (remove it, or choose another folder)" : "cannot be created (\(String(cString: strerror(errno))))"
        throw ConfinedPathError(path: child(name), reason: reason)
    }

    func isLink(_ name: String) -> Bool {
        var info = stat()
        return fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// One path component: not empty, `.`, `..`, and without `/` or NUL.
    public static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }

    static func checkName(_ name: String, in folder: ConfinedFolder) throws {
        guard isSafeName(name) else { throw ConfinedPathError(path: folder.path + "/" + name.debugDescription, reason: "is not a single file name") }
    }
}

/// A file descriptor that closes itself, with the path it was opened at (for messages).
public final class FileDescriptorHandle: @unchecked Sendable {
    public let fd: Int32
    public let path: String

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// A regular file opened for reading without following a link: a folder, FIFO or device
    /// put in its place would otherwise fail the read, block it forever, or never end.
    public static func openRegularFile(_ path: String) throws -> FileDescriptorHandle {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw ConfinedPathError(path: path, reason: errno == ELOOP ? "is a symbolic link" : "cannot be read (\(String(cString: strerror(errno))))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw ConfinedPathError(path: path, reason: "is not a regular file")
        }
        return FileDescriptorHandle(fd: fd, path: path)
    }

    /// Reads up to `buffer.count` bytes; 0 at the end. Retries on EINTR.
    public func read(into buffer: inout [UInt8]) throws -> Int {
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if count >= 0 { return count }
            guard errno == EINTR else { throw ConfinedPathError(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))") }
        }
    }

    /// Everything up to the end, refused when longer than `limit` (a device never ends).
    public func readAll(limit: Int) throws -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while data.count <= limit {
            let count = try read(into: &buffer)
            guard count > 0 else { return data }
            data.append(contentsOf: buffer[..<count])
        }
        throw ConfinedPathError(path: path, reason: "is larger than \(limit >> 10) KiB", hint: "")
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw ConfinedPathError(path: path, reason: "cannot be written (\(String(cString: strerror(errno))))") }
            offset += written
        }
    }
}
