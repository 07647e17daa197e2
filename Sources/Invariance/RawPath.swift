// A path as the file system holds it: bytes, which need not be UTF-8. A Swift String made
// from a name that is not UTF-8 has U+FFFD where its bytes were, and then names nothing.

import Foundation

public struct RawPath: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { bytes = Array(string.utf8) }

    static let slash = UInt8(ascii: "/")
    static let dot = UInt8(ascii: ".")

    public var isAbsolute: Bool { bytes.first == Self.slash }

    /// For messages only (bytes that are not UTF-8 show as U+FFFD).
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// The path with `component` (one name or a relative path) after it.
    public func appending(_ component: RawPath) -> RawPath {
        if bytes.isEmpty { return component }
        return RawPath(bytes: bytes.last == Self.slash ? bytes + component.bytes : bytes + [Self.slash] + component.bytes)
    }

    /// No empty, `.` or `..` components, as URL.standardized makes them (`..` at the root
    /// stays at the root); the result of an absolute path is absolute.
    public var standardized: RawPath {
        var components: [ArraySlice<UInt8>] = []
        for component in bytes.split(separator: Self.slash, omittingEmptySubsequences: true) {
            switch Array(component) {
            case [Self.dot]: continue
            case [Self.dot, Self.dot]:
                if let last = components.last, Array(last) != [Self.dot, Self.dot] {
                    components.removeLast()
                } else if !isAbsolute {
                    components.append(component)
                }
            default: components.append(component)
            }
        }
        let joined = Array(components.joined(separator: [Self.slash]))
        if isAbsolute { return RawPath(bytes: [Self.slash] + joined) }
        return RawPath(bytes: joined.isEmpty ? [Self.dot] : joined)
    }

    /// `self` relative to `root` ("." for the root itself); nil when it lies outside.
    func relative(to root: RawPath) -> RawPath? {
        if self == root { return RawPath(".") }
        let prefix = root.bytes == [Self.slash] ? root.bytes : root.bytes + [Self.slash]
        guard bytes.starts(with: prefix) else { return nil }
        return RawPath(bytes: Array(bytes.dropFirst(prefix.count)))
    }

    /// Calls `body` with the path as a NUL-terminated C string.
    func withCString<T>(_ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        let terminated = bytes.map { CChar(bitPattern: $0) } + [0]
        return try terminated.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// The names in a folder as the file system holds them, `.` and `..` left out.
    func folderEntries() throws(SystemCallError) -> [RawPath] {
        guard let folder = withCString({ opendir($0) }) else { throw SystemCallError(code: errno) }
        defer { closedir(folder) }
        var names: [RawPath] = []
        while true {
            errno = 0
            guard let entry = readdir(folder) else {
                if errno != 0 { throw SystemCallError(code: errno) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [Self.dot] && name != [Self.dot, Self.dot] { names.append(RawPath(bytes: name)) }
        }
    }

    /// Where a symbolic link points, as its bytes.
    func linkTarget() throws(SystemCallError) -> RawPath {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = withCString { path in
            buffer.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard count >= 0 else { throw SystemCallError(code: errno) }
        return RawPath(bytes: Array(buffer[..<count]))
    }
}

/// A failed system call: its errno, said the way strerror says it.
struct SystemCallError: Error {
    var code: Int32
    var reason: String { String(cString: strerror(code)) }
}
