// The invariance hash of a set of build inputs: deterministic across machines and runs.
//
// Format (version 1), documented in the README so anyone can reproduce it:
//   sha256 over the UTF-8 text
//     "podman-bootc-invariance-v1\n"
//     then, for every entry in byte order of its relative path:
//       "d <mode> <path>\n"                        directory
//       "f <mode> <path> <sha256 of content>\n"    regular file
//       "l <path> <link target>\n"                 symbolic link (not followed)
//   where <mode> is the permission bits in 4-digit octal and <path> is relative to the root
//   folder, "/"-separated. In <path> and <link target>, a backslash is written as two, a newline
//   as backslash-n and a space as backslash-x20, so every entry is one line whose fields
//   cannot run into each other (names without those characters hash as they always did).
//   Timestamps, owners and the order files are found in play no part.
//   Folders named .git are skipped (their content changes with every git operation).

import Crypto
import Foundation

public struct InvarianceHashError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "cannot hash \(path): \(reason)" }
}

public enum InvarianceHash {
    public static let formatHeader = "podman-bootc-invariance-v1\n"

    /// Hashes `inputs` (files or folders, absolute or relative to `root`); entries are named
    /// relative to `root`, so inputs must lie inside it.
    public static func compute(inputs: [String], root: URL) throws -> String {
        let rootPath = root.standardizedFileURL.path
        var entries: [String: String] = [:]
        for input in inputs {
            let url = input.hasPrefix("/") ? URL(fileURLWithPath: input) : root.appendingPathComponent(input)
            let path = url.standardizedFileURL.path
            guard let relative = relativePath(path, to: rootPath) else {
                throw InvarianceHashError(path: input, reason: "it is outside the root folder \(rootPath); hash from a folder that contains every input")
            }
            try collect(path: path, relative: relative, into: &entries)
        }
        var hasher = SHA256()
        hasher.update(data: Data(formatHeader.utf8))
        for name in entries.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            hasher.update(data: Data(entries[name]!.utf8))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// A name as one field of one line (see the format above).
    static func escaped(_ name: String) -> String {
        guard name.contains(where: { $0 == "\\" || $0 == " " || $0.isNewline }) else { return name }
        var result = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case " ": result += "\\x20"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    static func relativePath(_ path: String, to root: String) -> String? {
        if path == root { return "." }
        let prefix = root == "/" ? "/" : root + "/"
        guard path.hasPrefix(prefix) else { return nil }
        return String(path.dropFirst(prefix.count))
    }

    private static func collect(path: String, relative: String, into entries: inout [String: String]) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw InvarianceHashError(path: path, reason: String(cString: strerror(errno)))
        }
        let mode = String(format: "%04o", Int(info.st_mode) & 0o7777)
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
            entries[relative] = "l \(escaped(relative)) \(escaped(target))\n"
        case S_IFREG:
            entries[relative] = "f \(mode) \(escaped(relative)) \(try fileDigest(path))\n"
        case S_IFDIR:
            if relative != "." { entries[relative] = "d \(mode) \(escaped(relative))\n" }
            let children: [String]
            do { children = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                throw InvarianceHashError(path: path, reason: error.localizedDescription)
            }
            for child in children where child != ".git" {
                try collect(path: path + "/" + child, relative: relative == "." ? child : relative + "/" + child, into: &entries)
            }
        default:
            throw InvarianceHashError(path: path, reason: "it is neither a file, a folder nor a symbolic link")
        }
    }

    private static func fileDigest(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw InvarianceHashError(path: path, reason: "it cannot be read")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// podrun's decision, exactly: no image -> build; either hash missing -> build; hashes
/// differ -> build; equal -> use the image.
public struct RebuildDecision: Codable, Sendable, Equatable {
    public var build: Bool
    public var reason: String
    public var declaredHash: String?
    public var imageHash: String?

    /// The image label that carries the hash.
    public static let label = "io.0xmax42.invariance-hash"

    public init(build: Bool, reason: String, declaredHash: String?, imageHash: String?) {
        self.build = build
        self.reason = reason
        self.declaredHash = declaredHash
        self.imageHash = imageHash
    }

    public static func decide(imageExists: Bool, declaredHash: String?, imageHash: String?) -> RebuildDecision {
        let declared = declaredHash.flatMap { $0.isEmpty ? nil : $0 }
        let labelled = imageHash.flatMap { $0.isEmpty ? nil : $0 }
        func decision(_ build: Bool, _ reason: String) -> RebuildDecision {
            RebuildDecision(build: build, reason: reason, declaredHash: declared, imageHash: labelled)
        }
        guard imageExists else { return decision(true, "the image does not exist") }
        guard let declared else { return decision(true, "the build definition declares no invariance hash") }
        guard let labelled else { return decision(true, "the image has no \(label) label") }
        guard declared == labelled else { return decision(true, "the image was built from other inputs (label \(labelled.prefix(12)), declared \(declared.prefix(12)))") }
        return decision(false, "the image's label matches the declared invariance hash")
    }
}
