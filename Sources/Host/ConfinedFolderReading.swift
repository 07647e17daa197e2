// The reading side of a ConfinedFolder: opening an existing folder, looking at, reading and
// removing its entries, each an `openat`/`fstatat`/`unlinkat` relative to the held folder
// that never follows a link. A project folder is read and its .build/ replaced this way.

import Foundation

/// What an entry of a folder is, as `lstat` sees it (a link is a link, never its target).
public enum ConfinedEntryKind: Sendable, Equatable {
    case file, folder, link, other
}

extension ConfinedFolder {
    /// Opens the existing folder at the absolute `path`, which must have no link on it (pass
    /// a `realpath`); `inspect` sees every folder on the way, `/` first and the folder itself
    /// last (`true`), as opened: what it checks cannot be swapped after the check.
    public convenience init(opening path: String, hint: String = ConfinedPathError.projectHint,
                            inspect: (_ folder: ConfinedFolder, _ isLast: Bool) throws -> Void = { _, _ in }) throws {
        guard path.hasPrefix("/") else { throw ConfinedPathError(path: path, reason: "is not an absolute path", hint: hint) }
        let root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { throw ConfinedPathError(path: "/", reason: "cannot be opened", hint: hint) }
        var folder = ConfinedFolder(fd: root, path: "")
        let components = path.split(separator: "/").filter { $0 != "." }.map(String.init)
        try inspect(folder, components.isEmpty)
        for (index, component) in components.enumerated() {
            guard component != ".." else { throw ConfinedPathError(path: path, reason: "contains ..", hint: hint) }
            guard let next = try folder.existingSubfolder(component, hint: hint) else {
                throw ConfinedPathError(path: folder.child(component), reason: "does not exist", hint: hint)
            }
            folder = next
            try inspect(folder, index == components.count - 1)
        }
        self.init(fd: dup(folder.fd), path: folder.path.isEmpty ? "/" : folder.path)
    }

    /// The folder's own status (`fstat` of the open descriptor).
    public var status: stat {
        var info = stat()
        fstat(fd, &info)
        return info
    }

    /// What `name` is, nil when there is nothing of that name.
    public func kind(of name: String) -> ConfinedEntryKind? {
        guard ConfinedFolder.isSafeName(name) else { return nil }
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return switch info.st_mode & S_IFMT {
        case S_IFREG: .file
        case S_IFDIR: .folder
        case S_IFLNK: .link
        default: .other
        }
    }

    /// The existing sub-folder `name`, nil when missing; a link or anything else there is refused.
    public func existingSubfolder(_ name: String, hint: String = ConfinedPathError.projectHint) throws -> ConfinedFolder? {
        guard ConfinedFolder.isSafeName(name) else {
            throw ConfinedPathError(path: child(name.debugDescription), reason: "is not a single file name", hint: hint)
        }
        let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if sub >= 0 { return ConfinedFolder(fd: sub, path: child(name)) }
        if errno == ENOENT { return nil }
        let reason = errno == ELOOP || isLink(name) ? "is a symbolic link" : "is not a folder (\(String(cString: strerror(errno))))"
        throw ConfinedPathError(path: child(name), reason: reason, hint: hint)
    }

    /// The names in the folder, sorted (without `.` and `..`).
    public func names() -> [String] {
        let copy = dup(fd)
        guard copy >= 0 else { return [] }
        guard let stream = fdopendir(copy) else {
            close(copy)
            return []
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [String] = []
        while let item = readdir(stream) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// The content of the regular file `name`, nil when missing. A link, a FIFO, a device or
    /// a file larger than `limit` is refused (it would leave the folder, block or never end).
    public func readFile(_ name: String, limit: Int, hint: String = ConfinedPathError.projectHint) throws -> Data? {
        guard ConfinedFolder.isSafeName(name) else {
            throw ConfinedPathError(path: child(name.debugDescription), reason: "is not a single file name", hint: hint)
        }
        let file = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard file >= 0 else {
            if errno == ENOENT { return nil }
            let reason = errno == ELOOP || isLink(name) ? "is a symbolic link" : "cannot be read (\(String(cString: strerror(errno))))"
            throw ConfinedPathError(path: child(name), reason: reason, hint: hint)
        }
        let handle = FileDescriptorHandle(fd: file, path: child(name))
        var info = stat()
        guard fstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw ConfinedPathError(path: child(name), reason: "is not a regular file", hint: hint)
        }
        guard info.st_size <= limit else {
            throw ConfinedPathError(path: child(name), reason: "is larger than \(limit >> 10) KiB", hint: hint)
        }
        do { return try handle.readAll(limit: limit) } catch var error as ConfinedPathError {
            error.hint = hint
            throw error
        }
    }

    /// Removes the entry `name` (nothing when missing): a link or file itself, a folder with
    /// everything in it, each step relative to an open folder, so no link planted in it (or
    /// swapped in meanwhile) makes this remove anything outside.
    public func removeTree(_ name: String, hint: String = ConfinedPathError.projectHint, depth: Int = 0) throws {
        try Self.checkName(name, in: self)
        if unlinkat(fd, name, 0) == 0 || errno == ENOENT { return }
        guard errno == EISDIR || errno == EPERM else {
            throw ConfinedPathError(path: child(name), reason: "cannot be removed (\(String(cString: strerror(errno))))", hint: hint)
        }
        guard depth < 64 else { throw ConfinedPathError(path: child(name), reason: "is nested more than 64 folders deep", hint: hint) }
        guard let folder = try existingSubfolder(name, hint: hint) else { return }
        for entry in folder.names() { try folder.removeTree(entry, hint: hint, depth: depth + 1) }
        guard unlinkat(fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
            throw ConfinedPathError(path: child(name), reason: "cannot be removed (\(String(cString: strerror(errno))))", hint: hint)
        }
    }
}
