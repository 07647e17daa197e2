// Copies files and folders out of the guest over SFTP (for `run --artifact`). The guest is not
// trusted: its names, links, modes, depth, count and sizes must not reach beyond the target.

import Foundation
import Host
internal import CLibSSH2

/// How far one copy out of the guest may go: a folder looping on itself, a billion files or
/// an endless file end the copy with an error instead of filling the host.
public struct CopyLimits: Sendable {
    public var maxDepth: Int
    public var maxEntries: Int
    public var maxBytes: UInt64

    public init(maxDepth: Int = 32, maxEntries: Int = 100_000, maxBytes: UInt64 = 64 << 30) {
        self.maxDepth = maxDepth
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }
}

/// What one download copied.
public struct DownloadResult: Sendable {
    public var local: URL
    public var files = 0
    public var bytes: UInt64 = 0
    /// Links inside copied folders: never followed (a link may point anywhere, or at itself).
    public var skippedLinks = 0
}

extension SSHSession {
    /// Copies `remotePath` (a file, or a folder recursively) into `folder`, keeping its last
    /// path component. The named path itself may be a link in the guest (the user chose it);
    /// links inside a copied folder are skipped. Files get 0644 (0755 when executable in the
    /// guest) and folders 0755, both less the user's umask: never the guest's modes.
    public func download(_ remotePath: String, into folder: ConfinedFolder, limits: CopyLimits = CopyLimits()) throws -> DownloadResult {
        libssh2_session_set_blocking(session, 1)
        guard let sftp = libssh2_sftp_init(session) else { throw SSHError.channel("SFTP is not available in the guest: \(lastError)") }
        defer { libssh2_sftp_shutdown(sftp) }
        let trimmed = remotePath.count > 1 && remotePath.hasSuffix("/") ? String(remotePath.dropLast()) : remotePath
        let name = (trimmed as NSString).lastPathComponent
        guard ConfinedFolder.isSafeName(name) else { throw SSHError.channel("cannot name a local copy of \(remotePath.debugDescription)") }
        var result = DownloadResult(local: URL(fileURLWithPath: folder.path).appendingPathComponent(name))
        let top = try attributes(sftp, trimmed, follow: true)
        try copy(sftp, remote: trimmed, attributes: top, name: name, into: folder, depth: 0, limits: limits, result: &result)
        return result
    }

    private func attributes(_ sftp: OpaquePointer, _ path: String, follow: Bool) throws -> LIBSSH2_SFTP_ATTRIBUTES {
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        let kind = follow ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT
        guard libssh2_sftp_stat_ex(sftp, path, UInt32(path.utf8.count), kind, &attributes) == 0 else {
            throw SSHError.channel("\(path) does not exist in the guest or cannot be read (SFTP error \(libssh2_sftp_last_error(sftp)))")
        }
        return attributes
    }

    private func copy(_ sftp: OpaquePointer, remote: String, attributes: LIBSSH2_SFTP_ATTRIBUTES, name: String,
                      into folder: ConfinedFolder, depth: Int, limits: CopyLimits, result: inout DownloadResult) throws {
        let kind = Int(attributes.permissions) & Int(LIBSSH2_SFTP_S_IFMT)
        if kind == Int(LIBSSH2_SFTP_S_IFLNK) {
            result.skippedLinks += 1
            return
        }
        guard kind == Int(LIBSSH2_SFTP_S_IFDIR) || kind == Int(LIBSSH2_SFTP_S_IFREG) else { return }  // devices, sockets: nothing to copy
        result.files += 1
        guard result.files <= limits.maxEntries else {
            throw SSHError.channel("the copy of \(remote) stopped: more than \(limits.maxEntries) files and folders")
        }
        if kind == Int(LIBSSH2_SFTP_S_IFDIR) {
            guard depth < limits.maxDepth else {
                throw SSHError.channel("the copy stopped at \(remote): folders nested deeper than \(limits.maxDepth) levels")
            }
            let local = try folder.subfolder(name, mode: StateAccess.userMode(0o755))
            for (child, childAttributes) in try list(sftp, remote) {
                try copy(sftp, remote: remote + "/" + child, attributes: childAttributes, name: child, into: local,
                         depth: depth + 1, limits: limits, result: &result)
            }
            return
        }
        let executable = Int(attributes.permissions) & 0o111 != 0
        let file = try folder.createFile(name, mode: StateAccess.userMode(executable ? 0o755 : 0o644), replacing: false)
        guard let handle = libssh2_sftp_open_ex(sftp, remote, UInt32(remote.utf8.count), UInt(LIBSSH2_FXF_READ), 0, LIBSSH2_SFTP_OPENFILE) else {
            throw SSHError.channel("cannot open \(remote) in the guest (SFTP error \(libssh2_sftp_last_error(sftp)))")
        }
        defer { libssh2_sftp_close_handle(handle) }
        var buffer = [CChar](repeating: 0, count: 64 * 1024)
        while true {
            let count = libssh2_sftp_read(handle, &buffer, buffer.count)
            guard count >= 0 else { throw SSHError.channel("reading \(remote) from the guest failed: \(lastError)") }
            if count == 0 { break }
            result.bytes += UInt64(count)
            guard result.bytes <= limits.maxBytes else {
                throw SSHError.channel("the copy stopped at \(remote): more than \(limits.maxBytes >> 20) MiB in all")
            }
            try buffer.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }

    /// The folder's entries with their own attributes (links not followed), safe names only.
    private func list(_ sftp: OpaquePointer, _ remote: String) throws -> [(String, LIBSSH2_SFTP_ATTRIBUTES)] {
        var entries: [(String, LIBSSH2_SFTP_ATTRIBUTES)] = []
        for (name, listed) in try sftpEntries(sftp, remote) where ConfinedFolder.isSafeName(name) {
            var attributes = listed
            // readdir's attributes are lstat's; a server that sends none gets asked.
            if attributes.flags & UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS) == 0 {
                attributes = try self.attributes(sftp, remote + "/" + name, follow: false)
            }
            entries.append((name, attributes))
        }
        return entries.sorted { $0.0 < $1.0 }
    }

    /// Every entry of a guest folder but . and .., with readdir's attributes.
    func sftpEntries(_ sftp: OpaquePointer, _ remote: String) throws -> [(String, LIBSSH2_SFTP_ATTRIBUTES)] {
        guard let handle = libssh2_sftp_open_ex(sftp, remote, UInt32(remote.utf8.count), 0, 0, LIBSSH2_SFTP_OPENDIR) else {
            throw SSHError.channel("cannot list \(remote) in the guest (SFTP error \(libssh2_sftp_last_error(sftp)))")
        }
        defer { libssh2_sftp_close_handle(handle) }
        var entries: [(String, LIBSSH2_SFTP_ATTRIBUTES)] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            var attributes = LIBSSH2_SFTP_ATTRIBUTES()
            let count = libssh2_sftp_readdir_ex(handle, &buffer, buffer.count, nil, 0, &attributes)
            guard count > 0 else { break }
            let name = String(decoding: buffer[..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if name != "." && name != ".." && !name.contains("/") { entries.append((name, attributes)) }
        }
        return entries
    }
}
