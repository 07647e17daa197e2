// Waits for edits to a build's inputs (for `dev`): inotify on every folder below the watched
// ones (new folders are watched as they appear), debounced, so an editor's save (temporary
// file, rename, chmod) is one change, not five.

import Foundation

// Sendable by use: only the one task that waits for changes reads the inotify descriptor and
// touches `folders`; other tasks only hold the reference.
public final class InputWatcher: @unchecked Sendable {
    private let fd: Int32
    private var folders: [Int32: String] = [:]
    /// Hidden folders (.git, .build) change without the build changing.
    private static let ignoredFolders: Set<String> = [".git", ".build", ".hg", ".svn", "node_modules"]
    private static let mask = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
    /// The most folders watched: a build context that big is walked only so far.
    private static let maxFolders = 10_000

    /// Watches `paths` (folders recursively; for a file, its folder).
    public init(paths: [String]) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw ConfinedPathError(path: paths.first ?? "", reason: "inotify is not available: \(String(cString: strerror(errno)))") }
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { continue }
            try watchTree(isFolder.boolValue ? path : (path as NSString).deletingLastPathComponent)
        }
    }

    deinit { close(fd) }

    public var watchedFolders: Int { folders.count }

    private func watchTree(_ folder: String) throws {
        guard folders.count < Self.maxFolders else { return }
        let wd = inotify_add_watch(fd, folder, Self.mask | UInt32(IN_ONLYDIR) | UInt32(IN_DONT_FOLLOW))
        guard wd >= 0 else {
            if errno == ENOSPC {
                throw ConfinedPathError(path: folder, reason: "too many watches (raise fs.inotify.max_user_watches)")
            }
            return  // gone or unreadable meanwhile: nothing to watch there
        }
        folders[wd] = folder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names where !Self.ignoredFolders.contains(name) {
            let child = folder + "/" + name
            var info = stat()
            if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { try watchTree(child) }
        }
    }

    /// Blocks until something changed, then until `quiet` passes without another change;
    /// returns the changed paths (nil when `isCancelled` says stop).
    public func nextChange(quiet: Duration = .milliseconds(300), isCancelled: () -> Bool) throws -> [String]? {
        var changed = Set<String>()
        let quietMilliseconds = Int32(quiet.components.seconds * 1000 + quiet.components.attoseconds / 1_000_000_000_000_000)
        while true {
            if isCancelled() { return nil }
            // Until the first event: short polls, so a cancel is seen at once. After it: the quiet period.
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, changed.isEmpty ? 200 : quietMilliseconds)
            if ready < 0 && errno != EINTR { throw ConfinedPathError(path: "", reason: "waiting for changes failed: \(String(cString: strerror(errno)))") }
            if ready == 0 && !changed.isEmpty { return changed.sorted() }
            if ready > 0 { try drain(into: &changed) }
        }
    }

    private func drain(into changed: inout Set<String>) throws {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { return }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let nameStart = offset + MemoryLayout<inotify_event>.size
                let name = String(decoding: buffer[nameStart..<(nameStart + length)].prefix { $0 != 0 }, as: UTF8.self)
                offset = nameStart + length
                guard let folder = folders[wd] else { continue }
                if mask & UInt32(IN_IGNORED) != 0 { folders[wd] = nil; continue }
                if Self.ignoredFolders.contains(name) { continue }
                let path = name.isEmpty ? folder : folder + "/" + name
                changed.insert(path)
                if mask & UInt32(IN_ISDIR) != 0, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 { try watchTree(path) }
            }
        }
    }
}
