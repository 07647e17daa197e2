// Writes files into the guest over SFTP (for `dev`'s live updates): files replaced by a new
// inode (a running program keeps its old one, no "text file busy"), owners before modes (a
// chown clears setuid bits), folders removed whole.

import BootcCore
import Foundation
internal import CLibSSH2

extension SSHSession {
    /// Applies `operations` in order on one SFTP channel.
    public func apply(_ operations: [GuestFileOperation]) throws {
        libssh2_session_set_blocking(session, 1)
        guard let sftp = libssh2_sftp_init(session) else { throw SSHError.channel("SFTP is not available in the guest: \(lastError)") }
        defer { libssh2_sftp_shutdown(sftp) }
        let guest = GuestFiles(sftp: sftp, session: self)
        for operation in operations {
            switch operation {
            case .remove(let path):
                try guest.removeTree(path, depth: 0)
            case .folder(let path, let mode, let uid, let gid):
                if let existing = guest.lstat(path), existing.kind != LIBSSH2_SFTP_S_IFDIR { try guest.removeTree(path, depth: 0) }
                if guest.lstat(path) == nil { try guest.check(libssh2_sftp_mkdir_ex(sftp, path, UInt32(path.utf8.count), 0o700), "create the folder", path) }
                try guest.setOwner(path, uid: uid, gid: gid)
                try guest.setMode(path, mode)
            case .file(let path, let source, let mode, let uid, let gid):
                if guest.lstat(path) != nil { try guest.removeTree(path, depth: 0) }
                try guest.upload(source, to: path)
                try guest.setOwner(path, uid: uid, gid: gid)
                try guest.setMode(path, mode)
            case .symlink(let path, let target):
                if guest.lstat(path) != nil { try guest.removeTree(path, depth: 0) }
                // OpenSSH's server takes SSH_FXP_SYMLINK's two paths in the opposite order
                // from the draft libssh2 follows: the link's target goes first.
                var second = Array(path.utf8CString)
                let rc = libssh2_sftp_symlink_ex(sftp, target, UInt32(target.utf8.count), &second, UInt32(path.utf8.count), LIBSSH2_SFTP_SYMLINK)
                // libssh2 1.10 reports an error for OpenSSH's OK reply to SYMLINK (the link is
                // made): what is in the guest decides.
                if rc != 0, guest.readlink(path) == target { continue }
                try guest.check(rc, "create the link", path)
            }
        }
    }
}

private struct GuestFiles {
    let sftp: OpaquePointer
    let session: SSHSession

    func check(_ rc: Int32, _ what: String, _ path: String) throws {
        guard rc == 0 else { throw SSHError.channel("cannot \(what) \(path) in the guest (SFTP error \(libssh2_sftp_last_error(sftp)))") }
    }

    /// A link's target, nil when `path` is no link.
    func readlink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let count = libssh2_sftp_symlink_ex(sftp, path, UInt32(path.utf8.count), &buffer, UInt32(buffer.count - 1), LIBSSH2_SFTP_READLINK)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The entry's type bits, nil when there is none.
    func lstat(_ path: String) -> (kind: Int32, Void)? {
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        guard libssh2_sftp_stat_ex(sftp, path, UInt32(path.utf8.count), LIBSSH2_SFTP_LSTAT, &attributes) == 0 else { return nil }
        return (Int32(Int(attributes.permissions) & Int(LIBSSH2_SFTP_S_IFMT)), ())
    }

    func setOwner(_ path: String, uid: UInt32, gid: UInt32) throws {
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        attributes.flags = UInt(LIBSSH2_SFTP_ATTR_UIDGID)
        attributes.uid = UInt(uid)
        attributes.gid = UInt(gid)
        try check(libssh2_sftp_stat_ex(sftp, path, UInt32(path.utf8.count), LIBSSH2_SFTP_SETSTAT, &attributes), "set the owner of", path)
    }

    func setMode(_ path: String, _ mode: UInt32) throws {
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        attributes.flags = UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS)
        attributes.permissions = UInt(mode & 0o7777)
        try check(libssh2_sftp_stat_ex(sftp, path, UInt32(path.utf8.count), LIBSSH2_SFTP_SETSTAT, &attributes), "set the mode of", path)
    }

    /// Removes `path` (a folder with everything in it); nothing there is fine.
    func removeTree(_ path: String, depth: Int) throws {
        guard let entry = lstat(path) else { return }
        guard entry.kind == LIBSSH2_SFTP_S_IFDIR else {
            try check(libssh2_sftp_unlink_ex(sftp, path, UInt32(path.utf8.count)), "remove", path)
            return
        }
        guard depth < 64 else { throw SSHError.channel("cannot remove \(path) in the guest: folders nested deeper than 64 levels") }
        for name in try list(path) { try removeTree(path + "/" + name, depth: depth + 1) }
        try check(libssh2_sftp_rmdir_ex(sftp, path, UInt32(path.utf8.count)), "remove the folder", path)
    }

    private func list(_ path: String) throws -> [String] {
        try session.sftpEntries(sftp, path).map(\.0)
    }

    /// A new file (exclusive create) with the content of the host file `source`.
    func upload(_ source: String, to path: String) throws {
        let local = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard local >= 0 else { throw SSHError.channel("cannot read \(source): \(String(cString: strerror(errno)))") }
        defer { close(local) }
        let flags = UInt(LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL)
        guard let handle = libssh2_sftp_open_ex(sftp, path, UInt32(path.utf8.count), flags, 0o600, LIBSSH2_SFTP_OPENFILE) else {
            throw SSHError.channel("cannot create \(path) in the guest (SFTP error \(libssh2_sftp_last_error(sftp)))")
        }
        defer { libssh2_sftp_close_handle(handle) }
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        while true {
            let count = read(local, &buffer, buffer.count)
            guard count >= 0 else { throw SSHError.channel("reading \(source) failed: \(String(cString: strerror(errno)))") }
            if count == 0 { return }
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBufferPointer { libssh2_sftp_write(handle, $0.baseAddress! + offset, count - offset) }
                guard written > 0 else { throw SSHError.channel("writing \(path) in the guest failed: \(session.lastError)") }
                offset += written
            }
        }
    }
}
