// What changed between two images' files (for `dev`): the paths the layers only one image
// has touch (overlay storage keeps each layer's own files), compared in both merged trees;
// when the storage keeps no layer folders (vfs), both trees are walked instead.

import Foundation
import Host
internal import CXattr

/// One file system entry of an image, as the guest will see it.
public struct TreeEntry: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case file, directory, symlink, other }
    public var kind: Kind
    /// Permission bits with setuid, setgid and sticky (07777).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var linkTarget: String?
    /// Modification time in nanoseconds (shown, never trusted: contents are compared).
    var modified: Int64

    public init(kind: Kind, mode: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, size: UInt64 = 0, linkTarget: String? = nil, modified: Int64 = 0) {
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.linkTarget = linkTarget
        self.modified = modified
    }
}

/// A path whose entry differs between the old and the new image.
public struct ImageChange: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case added, changed, removed }
    /// Absolute in the image, e.g. /etc/hello.conf.
    public var path: String
    public var kind: Kind
    /// The new image's entry (nil when removed).
    public var entry: TreeEntry?
    /// A host file holding the new content of a regular file.
    public var staged: String?

    public init(path: String, kind: Kind, entry: TreeEntry?, staged: String? = nil) {
        self.path = path
        self.kind = kind
        self.entry = entry
        self.staged = staged
    }
}

/// Every change from one image to the next, and what the new image's units say about them.
public struct ImageChangeSet: Codable, Sendable, Equatable {
    public enum Method: String, Codable, Sendable {
        /// Only the layers one image has and the other lacks were read.
        case layers
        /// Both trees were walked (the storage keeps no layer folders).
        case trees
    }
    public var changes: [ImageChange]
    public var method: Method
    /// Changed executables -> the new image's units whose Exec*= lines run them.
    public var unitsRunning: [String: [String]]
    /// Changed unit files of early-boot units (DefaultDependencies=no): only a boot applies them.
    public var earlyBootUnits: [String]

    public init(changes: [ImageChange], method: Method, unitsRunning: [String: [String]] = [:], earlyBootUnits: [String] = []) {
        self.changes = changes
        self.method = method
        self.unitsRunning = unitsRunning
        self.earlyBootUnits = earlyBootUnits
    }
}

/// An image's files under a root folder, read without following links out of it: every
/// folder on the way is opened with O_NOFOLLOW, so a link planted by the image never leads
/// to the host's files.
public final class ImageTree: @unchecked Sendable {
    let root: Int32
    public let path: String

    public init(root: String) throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageTreeError(message: "cannot open the image tree \(root): \(String(cString: strerror(errno)))") }
        self.root = fd
        self.path = root
    }

    deinit { close(root) }

    /// The folder holding `path`'s last component, opened (nil when a folder on the way is
    /// missing or is no folder).
    private func parent(of path: String) -> (fd: Int32, name: String)? {
        var parts = path.split(separator: "/").map(String.init)
        guard let name = parts.popLast() else { return nil }
        var fd = dup(root)
        for part in parts {
            let next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
            guard next >= 0 else { return nil }
            fd = next
        }
        return (fd, name)
    }

    /// The entry at `path` (absolute in the image), nil when there is none.
    public func entry(_ path: String) -> TreeEntry? {
        guard let (fd, name) = parent(of: path) else { return nil }
        defer { close(fd) }
        return Self.entry(fd, name)
    }

    static func entry(_ folder: Int32, _ name: String) -> TreeEntry? {
        var info = stat()
        guard fstatat(folder, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        let kind: TreeEntry.Kind = switch info.st_mode & S_IFMT {
        case S_IFREG: .file
        case S_IFDIR: .directory
        case S_IFLNK: .symlink
        default: .other
        }
        var target: String?
        if kind == .symlink {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlinkat(folder, name, &buffer, buffer.count - 1)
            target = count >= 0 ? String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        }
        return TreeEntry(kind: kind, mode: UInt32(info.st_mode & 0o7777), uid: info.st_uid, gid: info.st_gid,
                         size: UInt64(info.st_size), linkTarget: target,
                         modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    /// `path` with every symbolic link on the way resolved as the image itself would see it
    /// (as inside a chroot: absolute targets start at the image's root, `..` stops there),
    /// nil when it leads nowhere or through more than 40 links. No component of the answer
    /// is a link, so the host path `self.path + answer` stays in the image.
    public func resolved(_ path: String) -> String? {
        var pending = path.split(separator: "/").map(String.init)
        var done: [String] = []
        var links = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == "." || part.isEmpty { continue }
            if part == ".." { _ = done.popLast(); continue }
            let current = "/" + (done + [part]).joined(separator: "/")
            guard let entry = entry(current) else { return nil }
            guard entry.kind == .symlink else { done.append(part); continue }
            links += 1
            guard links <= 40, let target = entry.linkTarget, !target.isEmpty else { return nil }
            if target.hasPrefix("/") { done = [] }
            pending = target.split(separator: "/").map(String.init) + pending
        }
        return "/" + done.joined(separator: "/")
    }

    /// A regular file's descriptor (never through a link; O_NONBLOCK so that a FIFO swapped in
    /// after a look at the entry cannot block the open).
    public func openFile(_ path: String) -> Int32? {
        guard let (fd, name) = parent(of: path) else { return nil }
        defer { close(fd) }
        let file = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        return file >= 0 ? file : nil
    }

    /// The names in the folder at `path` (empty when it is no folder).
    public func children(_ path: String) -> [String] {
        let folder: Int32
        if path == "/" || path.isEmpty {
            folder = dup(root)
        } else {
            guard let (fd, name) = parent(of: path) else { return [] }
            folder = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(fd)
        }
        guard folder >= 0, let stream = fdopendir(folder) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let item = readdir(stream) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Every path below `path` (itself excluded), parents before children.
    public func walk(_ path: String = "/", limit: Int = 5_000_000, into paths: inout [String]) {
        for name in children(path) where paths.count < limit {
            let child = path == "/" ? "/" + name : path + "/" + name
            paths.append(child)
            if entry(child)?.kind == .directory { walk(child, limit: limit, into: &paths) }
        }
    }

    /// The extended attribute `name` of the folder at `path`, if set.
    func attribute(_ path: String, _ name: String) -> String? {
        guard let (fd, last) = parent(of: path) else { return nil }
        defer { close(fd) }
        let folder = openat(fd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else { return nil }
        defer { close(folder) }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = fgetxattr(folder, name, &buffer, buffer.count - 1)
        return count >= 0 ? String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }
}
