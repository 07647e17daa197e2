// Copies files and folders out of the guest over SFTP (for `run --artifact`).

import Foundation
internal import CLibSSH2

extension SSHSession {
    /// Copies `remotePath` (a file, or a folder recursively) into `localFolder`, keeping its
    /// last path component; returns the local path. Names from the guest are single path
    /// components (no `/`, `.` or `..`), and set-ID bits are dropped.
    public func download(_ remotePath: String, into localFolder: URL) throws -> URL {
        libssh2_session_set_blocking(session, 1)
        guard let sftp = libssh2_sftp_init(session) else { throw SSHError.channel("SFTP is not available in the guest: \(lastError)") }
        defer { libssh2_sftp_shutdown(sftp) }
        let trimmed = remotePath.count > 1 && remotePath.hasSuffix("/") ? String(remotePath.dropLast()) : remotePath
        let name = (trimmed as NSString).lastPathComponent
        guard Self.isSafeName(name) else { throw SSHError.channel("cannot name a local copy of \(remotePath.debugDescription)") }
        try FileManager.default.createDirectory(at: localFolder, withIntermediateDirectories: true)
        let target = localFolder.appendingPathComponent(name)
        try copy(sftp, remote: trimmed, local: target)
        return target
    }

    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }

    private func attributes(_ sftp: OpaquePointer, _ path: String) throws -> LIBSSH2_SFTP_ATTRIBUTES {
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        guard libssh2_sftp_stat_ex(sftp, path, UInt32(path.utf8.count), LIBSSH2_SFTP_STAT, &attributes) == 0 else {
            throw SSHError.channel("\(path) does not exist in the guest or cannot be read (SFTP error \(libssh2_sftp_last_error(sftp)))")
        }
        return attributes
    }

    private func copy(_ sftp: OpaquePointer, remote: String, local: URL) throws {
        let attributes = try attributes(sftp, remote)
        let mode = Int(attributes.permissions)
        let permissions = mode_t(mode & 0o777)
        if mode & Int(LIBSSH2_SFTP_S_IFMT) == Int(LIBSSH2_SFTP_S_IFDIR) {
            try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
            for child in try list(sftp, remote) {
                try copy(sftp, remote: remote + "/" + child, local: local.appendingPathComponent(child))
            }
            chmod(local.path, permissions | 0o700)
            return
        }
        guard mode & Int(LIBSSH2_SFTP_S_IFMT) == Int(LIBSSH2_SFTP_S_IFREG) else { return }  // devices, sockets: nothing to copy
        guard let handle = libssh2_sftp_open_ex(sftp, remote, UInt32(remote.utf8.count), UInt(LIBSSH2_FXF_READ), 0, LIBSSH2_SFTP_OPENFILE) else {
            throw SSHError.channel("cannot open \(remote) in the guest (SFTP error \(libssh2_sftp_last_error(sftp)))")
        }
        defer { libssh2_sftp_close_handle(handle) }
        let fd = open(local.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, permissions)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: local.path]) }
        defer { close(fd) }
        var buffer = [CChar](repeating: 0, count: 64 * 1024)
        while true {
            let count = libssh2_sftp_read(handle, &buffer, buffer.count)
            guard count >= 0 else { throw SSHError.channel("reading \(remote) from the guest failed: \(lastError)") }
            if count == 0 { break }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBufferPointer { write(fd, $0.baseAddress! + offset, count - offset) }
                guard written > 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: local.path]) }
                offset += written
            }
        }
    }

    private func list(_ sftp: OpaquePointer, _ remote: String) throws -> [String] {
        guard let handle = libssh2_sftp_open_ex(sftp, remote, UInt32(remote.utf8.count), 0, 0, LIBSSH2_SFTP_OPENDIR) else {
            throw SSHError.channel("cannot list \(remote) in the guest (SFTP error \(libssh2_sftp_last_error(sftp)))")
        }
        defer { libssh2_sftp_close_handle(handle) }
        var names: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        while true {
            let count = libssh2_sftp_readdir_ex(handle, &buffer, buffer.count, nil, 0, &attributes)
            guard count > 0 else { break }
            let name = String(decoding: buffer[..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if Self.isSafeName(name) { names.append(name) }
        }
        return names.sorted()
    }
}
