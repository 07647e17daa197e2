// One change to a guest's files, as `dev` applies an edited image to a running VM.

/// A step of a live update; paths are absolute in the guest.
public enum GuestFileOperation: Sendable, Equatable {
    /// Removes a file, link or folder (with everything in it); nothing there is fine.
    case remove(path: String)
    /// A folder with these owner and mode (made, or its owner and mode set).
    case folder(path: String, mode: UInt32, uid: UInt32, gid: UInt32)
    /// A regular file with the content of the host file `source`, replacing what is there.
    case file(path: String, source: String, mode: UInt32, uid: UInt32, gid: UInt32)
    /// A symbolic link to `target`, replacing what is there.
    case symlink(path: String, target: String)

    public var path: String {
        switch self {
        case .remove(let path), .folder(let path, _, _, _), .file(let path, _, _, _, _), .symlink(let path, _): path
        }
    }
}
