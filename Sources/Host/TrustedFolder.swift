// git's safe.directory rule for the folders podman-bootc takes instructions from: a project
// folder (its images.yml decides what root builds and boots) is used only when the caller
// owns it, no other user can write to it, and no other user can swap it or a folder above it.

import BootcCore
import Foundation

/// The accounts whose folders count as the caller's own: itself, root (who can change
/// anything anyway), and under sudo the user behind it.
public struct TrustedOwners: Sendable, Equatable {
    public var uids: Set<uid_t>

    public init(uids: Set<uid_t>) { self.uids = uids }

    public static func caller(environment: [String: String] = ProcessInfo.processInfo.environment) -> TrustedOwners {
        var uids: Set<uid_t> = [geteuid(), 0]
        if geteuid() == 0, let user = environment["SUDO_USER"], !user.isEmpty, let entry = getpwnam(user) {
            uids.insert(entry.pointee.pw_uid)
        }
        return TrustedOwners(uids: uids)
    }
}

public struct UntrustedFolderError: ToolError, Equatable {
    public var path: String
    public var reason: String
    /// Why it matters here and what the user can do instead.
    public var advice: String

    public var description: String { "\(path) \(explanation)" }

    /// The message after the path.
    public var explanation: String { "\(reason): \(advice)" }

    /// For a project folder found rather than named: `explicitOption` names it explicitly.
    public static func projectAdvice(explicitOption: String) -> String {
        "podman-bootc uses a project folder's images.yml, layers/ and templates/ only when you own the folder "
            + "and no other user can write to it or to a folder above it (git's safe.directory rule); "
            + "if you trust it, name its images.yml explicitly: \(explicitOption)"
    }
}

public enum TrustedFolder {
    /// Opens the folder at `path` (links in it resolved first) when `owners` own it and every
    /// folder above it, and no one else can write to it, nor replace it in a folder above.
    /// With `othersMayAdd`, the folder itself is judged as a folder above one: others may
    /// write to it when it is sticky (a parent like /tmp for a folder made in it).
    public static func open(_ path: String, owners: TrustedOwners = .caller(), othersMayAdd: Bool = false, advice: String) throws -> ConfinedFolder {
        guard let real = realpath(path, nil) else {
            throw UntrustedFolderError(path: path, reason: "cannot be opened (\(String(cString: strerror(errno))))", advice: advice)
        }
        let resolved = String(cString: real)
        free(real)
        return try ConfinedFolder(opening: resolved, hint: advice) { folder, isLast in
            if let reason = problem(folder.status, owners: owners, isProjectFolder: isLast && !othersMayAdd) {
                throw UntrustedFolderError(path: folder.path.isEmpty ? "/" : folder.path, reason: reason, advice: advice)
            }
        }
    }

    /// Why a folder with `info` is not the caller's, nil when it is. A folder above the
    /// project may be writable by others when it is sticky (/tmp): they cannot rename what is
    /// not theirs there. The project folder itself may not: they could add an images.yml.
    static func problem(_ info: stat, owners: TrustedOwners, isProjectFolder: Bool) -> String? {
        guard owners.uids.contains(info.st_uid) else {
            return "is owned by \(userName(info.st_uid)), not by you"
        }
        let sticky = info.st_mode & S_ISVTX != 0
        if info.st_mode & S_IWOTH != 0 && (isProjectFolder || !sticky) {
            return "is writable by every user (mode \(String(info.st_mode & 0o7777, radix: 8)))"
        }
        if info.st_mode & S_IWGRP != 0 && (isProjectFolder || !sticky) && !isPrivateGroup(info.st_gid, of: info.st_uid) {
            return "is writable by the group \(groupName(info.st_gid)) (mode \(String(info.st_mode & 0o7777, radix: 8)))"
        }
        return nil
    }

    /// A user-private group (umask 002 systems): named as its owner, the owner's primary
    /// group, with no other member listed. Group write there gives no one else anything.
    static func isPrivateGroup(_ gid: gid_t, of uid: uid_t) -> Bool {
        guard let user = getpwuid(uid), user.pointee.pw_gid == gid, let group = getgrgid(gid),
              let userName = user.pointee.pw_name, let groupName = group.pointee.gr_name,
              String(cString: userName) == String(cString: groupName) else { return false }
        let owner = String(cString: userName)
        var member = group.pointee.gr_mem
        while let name = member?.pointee {
            if String(cString: name) != owner { return false }
            member = member?.successor()
        }
        return true
    }

    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return "\(String(cString: name)) (uid \(uid))"
    }

    static func groupName(_ gid: gid_t) -> String {
        guard let entry = getgrgid(gid), let name = entry.pointee.gr_name else { return "gid \(gid)" }
        return "\(String(cString: name)) (gid \(gid))"
    }
}
