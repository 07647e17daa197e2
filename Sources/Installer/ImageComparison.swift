// Comparing two images' trees: what changed, and what the new image's units say.

import Foundation
import Host
internal import CXattr

/// Compares two mounted images and stages the new content of changed files.
public struct ImageComparison: Sendable {
    public let old: ImageTree
    public let new: ImageTree

    public init(old: ImageTree, new: ImageTree) {
        self.old = old
        self.new = new
    }

    /// The layer folders (bottom first) the two images do not share, when both images'
    /// folders line up with their layer lists; nil means "walk both trees".
    public static func unsharedLayerFolders(old: (layers: [String], folders: [String]?), new: (layers: [String], folders: [String]?)) -> [String]? {
        guard let oldFolders = old.folders, let newFolders = new.folders,
              oldFolders.count == old.layers.count, newFolders.count == new.layers.count else { return nil }
        var shared = 0
        while shared < old.layers.count, shared < new.layers.count, old.layers[shared] == new.layers[shared] { shared += 1 }
        return Array(oldFolders[shared...]) + Array(newFolders[shared...])
    }

    /// The changes from `old` to `new`: the candidates are the paths `layerFolders` touch
    /// (or every path of both trees when nil); files added or changed are copied to `staging`.
    public func changes(layerFolders: [String]?, staging: URL) throws -> ImageChangeSet {
        var candidates = Set<String>()
        if let layerFolders {
            for folder in layerFolders { try touchedPaths(layerFolder: folder, into: &candidates) }
        } else {
            var paths: [String] = []
            old.walk(into: &paths)
            new.walk(into: &paths)
            candidates.formUnion(paths)
        }
        var changes: [ImageChange] = []
        var removedFolders: [String] = []
        for path in candidates.sorted() {
            if removedFolders.contains(where: { path.hasPrefix($0 + "/") }) { continue }
            let before = old.entry(path)
            let after = new.entry(path)
            switch (before, after) {
            case (nil, nil):
                continue
            case (.some(let entry), nil):
                changes.append(ImageChange(path: path, kind: .removed, entry: nil))
                if entry.kind == .directory { removedFolders.append(path) }
            case (nil, .some(let entry)):
                changes.append(ImageChange(path: path, kind: .added, entry: entry))
            case (.some(let was), .some(let now)):
                if try !same(path, was, now) { changes.append(ImageChange(path: path, kind: .changed, entry: now)) }
            }
        }
        try stage(&changes, in: staging)
        return ImageChangeSet(changes: changes, method: layerFolders == nil ? .trees : .layers,
                              unitsRunning: unitsRunning(changes), earlyBootUnits: earlyBootUnits(changes))
    }

    /// Paths a layer folder adds, changes or removes (whiteouts), the children of folders it
    /// makes opaque included.
    func touchedPaths(layerFolder: String, into candidates: inout Set<String>) throws {
        let layer = try ImageTree(root: layerFolder)
        var paths: [String] = []
        layer.walk(into: &paths)
        for path in paths {
            let folder = (path as NSString).deletingLastPathComponent
            let name = (path as NSString).lastPathComponent
            if name == ".wh..wh..opq" {
                opaque(folder, into: &candidates)
            } else if name.hasPrefix(".wh.") {
                candidates.insert((folder == "/" ? "" : folder) + "/" + name.dropFirst(4))
            } else {
                candidates.insert(path)
                if let entry = layer.entry(path), entry.kind == .directory,
                   layer.attribute(path, "trusted.overlay.opaque") == "y" || layer.attribute(path, "user.overlay.opaque") == "y" {
                    opaque(path, into: &candidates)
                }
            }
        }
    }

    /// A folder the layer replaced whole: everything the old image had in it is a candidate.
    private func opaque(_ folder: String, into candidates: inout Set<String>) {
        var paths: [String] = []
        old.walk(folder, into: &paths)
        candidates.formUnion(paths)
    }

    private func same(_ path: String, _ a: TreeEntry, _ b: TreeEntry) throws -> Bool {
        guard a.kind == b.kind, a.mode == b.mode, a.uid == b.uid, a.gid == b.gid else { return false }
        switch a.kind {
        case .symlink: return a.linkTarget == b.linkTarget
        case .directory, .other: return true
        case .file:
            // Content, not times: reproducible builds give every file one time, and an edit
            // that keeps a file's size must still count.
            guard a.size == b.size else { return false }
            return try sameContent(path)
        }
    }

    private func sameContent(_ path: String) throws -> Bool {
        guard let a = old.openFile(path), let b = new.openFile(path) else { return false }
        defer { close(a); close(b) }
        var left = [UInt8](repeating: 0, count: 1 << 16)
        var right = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(a, &left, left.count)
            guard count >= 0, read(b, &right, count) == count else { return false }
            if count == 0 { return true }
            if left[..<count] != right[..<count] { return false }
        }
    }

    /// Copies the new content of every added or changed file into `staging` (private files).
    private func stage(_ changes: inout [ImageChange], in staging: URL) throws {
        var index = 0
        for i in changes.indices where changes[i].kind != .removed && changes[i].entry?.kind == .file {
            guard let source = new.openFile(changes[i].path) else {
                throw ImageTreeError(message: "cannot read \(changes[i].path) in the new image")
            }
            defer { close(source) }
            index += 1
            let target = staging.appendingPathComponent("\(index)")
            let out = open(target.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard out >= 0 else { throw ImageTreeError(message: "cannot stage \(changes[i].path) in \(staging.path): \(String(cString: strerror(errno)))") }
            defer { close(out) }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while case let count = read(source, &buffer, buffer.count), count > 0 {
                guard write(out, buffer, count) == count else { throw ImageTreeError(message: "staging \(changes[i].path) failed: \(String(cString: strerror(errno)))") }
            }
            changes[i].staged = target.path
        }
    }

    // MARK: What the new image's units say

    static let unitFolders = ["/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"]

    /// The unit files of the new image's system units (direct children of the unit folders).
    private func unitFiles() -> [(name: String, path: String)] {
        Self.unitFolders.flatMap { folder in
            new.children(folder).filter { $0.contains(".") }.map { (name: $0, path: folder + "/" + $0) }
        }
    }

    private func text(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let entry = new.entry(path), entry.kind == .file, entry.size <= limit, let fd = new.openFile(path) else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: Int(entry.size))
        let count = read(fd, &buffer, buffer.count)
        return count >= 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }

    /// Changed executables -> the units that run them. /bin and /usr/bin name one file in a
    /// merged-/usr image, so both spellings match.
    private func unitsRunning(_ changes: [ImageChange]) -> [String: [String]] {
        let executables = changes.filter { $0.kind != .removed && $0.entry?.kind == .file && ($0.entry?.mode ?? 0) & 0o111 != 0 }.map(\.path)
        guard !executables.isEmpty else { return [:] }
        var result: [String: [String]] = [:]
        for unit in unitFiles() where unit.name.hasSuffix(".service") {
            guard let text = text(unit.path) else { continue }
            let programs = Self.execPrograms(text)
            for path in executables where programs.contains(where: { Self.samePath($0, path) }) {
                result[path, default: []].append(unit.name)
            }
        }
        return result.mapValues { Array(Set($0)).sorted() }
    }

    /// The programs of a unit's Exec*= lines (prefixes like - @ + ! : dropped).
    static func execPrograms(_ unitText: String) -> [String] {
        unitText.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("Exec"), let equals = trimmed.firstIndex(of: "=") else { return nil }
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let program = value.drop { "-@+!:|".contains($0) }.split(separator: " ").first.map(String.init)
            return program?.hasPrefix("/") == true ? program : nil
        }
    }

    static func samePath(_ a: String, _ b: String) -> Bool {
        func merged(_ path: String) -> String {
            for prefix in ["/bin/", "/sbin/", "/lib/", "/lib64/"] where path.hasPrefix(prefix) { return "/usr" + path }
            return path
        }
        return merged(a) == merged(b)
    }

    /// Changed or added unit files (or drop-ins) of units that opt out of default
    /// dependencies: they run before basic.target, which a live restart cannot reproduce.
    private func earlyBootUnits(_ changes: [ImageChange]) -> [String] {
        var result = Set<String>()
        for change in changes where change.kind != .removed && change.entry?.kind == .file {
            guard let unit = UnitPath.unit(of: change.path) else { continue }
            if let text = text(change.path), text.range(of: #"(?m)^\s*DefaultDependencies\s*=\s*(no|false|0|off)\s*$"#, options: .regularExpression) != nil {
                result.insert(unit)
            }
        }
        return result.sorted()
    }
}

/// Which unit a path in a unit folder belongs to.
public enum UnitPath {
    public static let folders = ImageComparison.unitFolders

    /// X.service for /etc/systemd/system/X.service and its drop-ins (X.service.d/*.conf).
    public static func unit(of path: String) -> String? {
        for folder in folders where path.hasPrefix(folder + "/") {
            let rest = path.dropFirst(folder.count + 1).split(separator: "/").map(String.init)
            if rest.count == 1, isUnitName(rest[0]) { return rest[0] }
            if rest.count == 2, rest[0].hasSuffix(".d"), isUnitName(String(rest[0].dropLast(2))) { return String(rest[0].dropLast(2)) }
        }
        return nil
    }

    /// X.service for a link in a target's wants folder (the unit is enabled).
    public static func wantedUnit(of path: String) -> String? {
        for folder in folders where path.hasPrefix(folder + "/") {
            let rest = path.dropFirst(folder.count + 1).split(separator: "/").map(String.init)
            if rest.count == 2, rest[0].hasSuffix(".wants") || rest[0].hasSuffix(".requires"), isUnitName(rest[1]) { return rest[1] }
        }
        return nil
    }

    static let unitTypes = ["service", "socket", "timer", "path", "mount", "automount", "target", "swap", "slice", "scope", "device"]

    public static func isUnitName(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), unitTypes.contains(String(name[name.index(after: dot)...])) else { return false }
        return name.count <= 255 && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || ":-_.@\\".unicodeScalars.contains($0)) }
    }
}
