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
//   folder, "/"-separated, its bytes as the file system holds them (UTF-8 names are their
//   UTF-8; a name that is not UTF-8 goes in as its own bytes, not re-encoded). In <path> and <link target>, a backslash is written as two, a newline
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
        try compute(inputs: inputs.map(RawPath.init), root: RawPath(root.path))
    }

    /// The same over paths as bytes: names that are not UTF-8 (a folder named in Latin-1) are
    /// read, hashed and written as the bytes they are.
    public static func compute(inputs: [RawPath], root: RawPath) throws -> String {
        let rootPath = root.standardized
        var entries: [RawPath: [UInt8]] = [:]
        for input in inputs {
            let path = (input.isAbsolute ? input : rootPath.appending(input)).standardized
            guard let relative = path.relative(to: rootPath) else {
                throw InvarianceHashError(path: input.description, reason: "it is outside the root folder \(rootPath); hash from a folder that contains every input")
            }
            try collect(path: path, relative: relative, into: &entries)
        }
        var hasher = SHA256()
        hasher.update(data: Data(formatHeader.utf8))
        for name in entries.keys.sorted(by: { $0.bytes.lexicographicallyPrecedes($1.bytes) }) {
            hasher.update(data: entries[name]!)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// A name as one field of one line (see the format above).
    static func escaped(_ name: String) -> String {
        String(decoding: escaped(RawPath(name)), as: UTF8.self)
    }

    static func escaped(_ name: RawPath) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(name.bytes.count)
        for byte in name.bytes {
            switch byte {
            case UInt8(ascii: "\\"): result += Array("\\\\".utf8)
            case UInt8(ascii: "\n"): result += Array("\\n".utf8)
            case UInt8(ascii: " "): result += Array("\\x20".utf8)
            default: result.append(byte)
            }
        }
        return result
    }

    /// One line of the hashed text: the fields, space-separated, then a newline.
    private static func line(_ fields: [[UInt8]]) -> [UInt8] {
        Array(fields.joined(separator: [UInt8(ascii: " ")])) + [UInt8(ascii: "\n")]
    }

    private static func collect(path: RawPath, relative: RawPath, into entries: inout [RawPath: [UInt8]]) throws {
        var info = stat()
        guard path.withCString({ lstat($0, &info) }) == 0 else {
            throw InvarianceHashError(path: path.description, reason: String(cString: strerror(errno)))
        }
        let mode = Array(String(format: "%04o", Int(info.st_mode) & 0o7777).utf8)
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            let target: RawPath
            do { target = try path.linkTarget() } catch {
                throw InvarianceHashError(path: path.description, reason: error.reason)
            }
            entries[relative] = line([Array("l".utf8), escaped(relative), escaped(target)])
        case S_IFREG:
            entries[relative] = line([Array("f".utf8), mode, escaped(relative), Array(try fileDigest(path).utf8)])
        case S_IFDIR:
            if relative != RawPath(".") { entries[relative] = line([Array("d".utf8), mode, escaped(relative)]) }
            let children: [RawPath]
            do { children = try path.folderEntries() } catch {
                throw InvarianceHashError(path: path.description, reason: error.reason)
            }
            for child in children where child != RawPath(".git") {
                try collect(path: path.appending(child), relative: relative == RawPath(".") ? child : relative.appending(child), into: &entries)
            }
        default:
            throw InvarianceHashError(path: path.description, reason: "it is neither a file, a folder nor a symbolic link")
        }
    }

    private static func fileDigest(_ path: RawPath) throws -> String {
        let descriptor = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        guard descriptor >= 0 else {
            throw InvarianceHashError(path: path.description, reason: "it cannot be read (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw InvarianceHashError(path: path.description, reason: "it cannot be read (\(String(cString: strerror(errno))))")
            }
            if count == 0 { break }
            hasher.update(data: buffer[..<count])
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
