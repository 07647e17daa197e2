// A folder podman-bootc writes private files into (export's keys and manifests): one it makes
// itself (0700), or an existing empty one that is the caller's and no one else can write to.
// Held open from the check to the last file, so no folder swapped in meanwhile is written to.

import Foundation

public struct PrivateOutputFolder: Sendable {
    /// The folder it is in (the caller's; others may add to it only if it is sticky).
    public let parent: ConfinedFolder
    public let name: String
    public let folder: ConfinedFolder
    /// Made here (removed whole on failure) rather than found empty.
    public let created: Bool

    public static let advice = "podman-bootc writes private keys only into a folder it makes, or an empty one that is yours and that no other user can write to (nor to a folder above it); give a new folder's path"

    /// Checks `path` without creating anything: up front, before minutes of work.
    public static func check(_ path: String, owners: TrustedOwners = .caller()) throws {
        let (parent, name) = try openParent(path, owners: owners)
        if let existing = try parent.existingSubfolder(name, hint: advice) { try checkExisting(existing, owners: owners) }
    }

    /// Opens `path`, making it (0700) when missing; an existing one is checked again.
    public init(_ path: String, owners: TrustedOwners = .caller()) throws {
        (parent, name) = try Self.openParent(path, owners: owners)
        let made = mkdirat(parent.fd, name, 0o700) == 0
        guard made || errno == EEXIST else {
            throw ConfinedPathError(path: parent.child(name), reason: "cannot be created (\(String(cString: strerror(errno))))", hint: Self.advice)
        }
        guard let opened = try parent.existingSubfolder(name, hint: Self.advice) else {
            throw ConfinedPathError(path: parent.child(name), reason: "disappeared", hint: Self.advice)
        }
        if made { fchmod(opened.fd, 0o700) } else { try Self.checkExisting(opened, owners: owners) }
        folder = opened
        created = made
    }

    /// Removes what was written: the folder itself when made here, else everything in it.
    public func removeWritten() {
        if created {
            try? parent.removeTree(name)
        } else {
            for entry in folder.names() { try? folder.removeTree(entry) }
        }
    }

    private static func openParent(_ path: String, owners: TrustedOwners) throws -> (ConfinedFolder, String) {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let name = url.lastPathComponent
        guard ConfinedFolder.isSafeName(name), url.path != "/" else {
            throw ConfinedPathError(path: path, reason: "is not a folder name", hint: advice)
        }
        return (try TrustedFolder.open(url.deletingLastPathComponent().path, owners: owners, othersMayAdd: true, advice: advice), name)
    }

    private static func checkExisting(_ folder: ConfinedFolder, owners: TrustedOwners) throws {
        if let reason = TrustedFolder.problem(folder.status, owners: owners, isProjectFolder: true) {
            throw UntrustedFolderError(path: folder.path, reason: reason, advice: advice)
        }
        guard folder.names().isEmpty else {
            throw ConfinedPathError(path: folder.path, reason: "is not empty", hint: "give a new folder (export never overwrites keys)")
        }
    }
}
