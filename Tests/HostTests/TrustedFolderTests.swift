// git's safe.directory rule: a project folder counts only when the caller owns it and no one
// else can write to it or swap it; and the confined reads a project is read with.

import Foundation
@testable import Host
import Testing

@Suite struct TrustedFolderRuleTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("trusted-\(UUID().uuidString)")
    let me = TrustedOwners(uids: [geteuid(), 0])

    init() throws { try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true) }

    func status(uid: uid_t, mode: mode_t) -> stat {
        var info = stat()
        info.st_uid = uid
        info.st_gid = 4_000_001
        info.st_mode = S_IFDIR | mode
        return info
    }

    @Test func ownershipAndWhoMayWriteDecide() {
        let owners = TrustedOwners(uids: [0, 1000])
        #expect(TrustedFolder.problem(status(uid: 1000, mode: 0o755), owners: owners, isProjectFolder: true) == nil)
        #expect(TrustedFolder.problem(status(uid: 0, mode: 0o700), owners: owners, isProjectFolder: true) == nil)
        #expect(TrustedFolder.problem(status(uid: 1001, mode: 0o755), owners: owners, isProjectFolder: true)?.contains("not by you") == true)
        #expect(TrustedFolder.problem(status(uid: 1000, mode: 0o757), owners: owners, isProjectFolder: true)?.contains("every user") == true)
        #expect(TrustedFolder.problem(status(uid: 1000, mode: 0o775), owners: owners, isProjectFolder: true)?.contains("group") == true)
        // /tmp: others may write, but the sticky bit keeps them from renaming what is ours.
        #expect(TrustedFolder.problem(status(uid: 0, mode: 0o1777), owners: owners, isProjectFolder: false) == nil)
        #expect(TrustedFolder.problem(status(uid: 0, mode: 0o1777), owners: owners, isProjectFolder: true) != nil)
        #expect(TrustedFolder.problem(status(uid: 0, mode: 0o777), owners: owners, isProjectFolder: false) != nil)
        // A folder above it owned by someone else: they could rename the project away.
        #expect(TrustedFolder.problem(status(uid: 1001, mode: 0o755), owners: owners, isProjectFolder: false) != nil)
    }

    @Test func sudoTrustsTheUserBehindIt() throws {
        let owners = TrustedOwners.caller(environment: ["SUDO_USER": "root"])
        #expect(owners.uids.contains(geteuid()) && owners.uids.contains(0))
        if geteuid() == 0, let nobody = getpwnam("nobody") {
            #expect(TrustedOwners.caller(environment: ["SUDO_USER": "nobody"]).uids.contains(nobody.pointee.pw_uid))
        }
    }

    @Test func aWorldWritableProjectOrParentIsRefused() throws {
        let project = base.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        chmod(base.path, 0o755)
        chmod(project.path, 0o755)
        #expect(try TrustedFolder.open(project.path, owners: me, advice: UntrustedFolderError.projectAdvice(explicitOption: "--config x")).path == project.resolvingSymlinksInPath().path)

        chmod(project.path, 0o777)
        var error = #expect(throws: UntrustedFolderError.self) { try TrustedFolder.open(project.path, owners: me, advice: UntrustedFolderError.projectAdvice(explicitOption: "--config x")) }
        #expect(error?.reason.contains("writable by every user") == true && error?.description.contains("--config x") == true)

        chmod(project.path, 0o755)
        chmod(base.path, 0o777)
        error = #expect(throws: UntrustedFolderError.self) { try TrustedFolder.open(project.path, owners: me, advice: UntrustedFolderError.projectAdvice(explicitOption: "--config x")) }
        #expect(error?.path == base.resolvingSymlinksInPath().path)
        chmod(base.path, 0o1777)
        _ = try TrustedFolder.open(project.path, owners: me, advice: UntrustedFolderError.projectAdvice(explicitOption: "--config x"))
        chmod(base.path, 0o755)
        try? FileManager.default.removeItem(at: base)
    }

    @Test(.enabled(if: geteuid() == 0)) func anotherUsersFolderIsRefused() throws {
        let project = base.appendingPathComponent("theirs")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        #expect(chown(project.path, 65534, 65534) == 0)
        let error = #expect(throws: UntrustedFolderError.self) {
            try TrustedFolder.open(project.path, owners: TrustedOwners(uids: [0]), advice: "use --config y")
        }
        #expect(error?.reason.contains("uid 65534") == true, "\(String(describing: error))")
    }
}

@Suite struct ConfinedFolderReadingTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("confined-read-\(UUID().uuidString)")

    init() throws { try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true) }

    @Test func readsRegularFilesOnlyCappedNeverThroughALink() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        try "hello".write(to: base.appendingPathComponent("file"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: base.appendingPathComponent("shadow").path, withDestinationPath: "/etc/shadow")
        try FileManager.default.createSymbolicLink(atPath: base.appendingPathComponent("zero").path, withDestinationPath: "/dev/zero")
        #expect(mkfifo(base.appendingPathComponent("fifo").path, 0o600) == 0)
        let folder = try ConfinedFolder(opening: base.resolvingSymlinksInPath().path)
        #expect(try folder.readFile("file", limit: 100) == Data("hello".utf8))
        #expect(try folder.readFile("missing", limit: 100) == nil)
        #expect(throws: ConfinedPathError.self) { try folder.readFile("file", limit: 3) }
        for name in ["shadow", "zero", "fifo"] {
            #expect(throws: ConfinedPathError.self) { try folder.readFile(name, limit: 1 << 20) }
        }
        #expect(folder.kind(of: "shadow") == .link && folder.kind(of: "file") == .file && folder.kind(of: "fifo") == .other)
        #expect(folder.names() == ["fifo", "file", "shadow", "zero"])
    }

    @Test func removingATreeNeverFollowsALink() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let outside = base.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try "keep".write(to: outside.appendingPathComponent("f"), atomically: true, encoding: .utf8)
        let tree = base.appendingPathComponent("tree/a/b")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try "x".write(to: tree.appendingPathComponent("f"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: tree.appendingPathComponent("out"), withDestinationURL: outside)
        try FileManager.default.createSymbolicLink(at: base.appendingPathComponent("link"), withDestinationURL: outside)
        let folder = try ConfinedFolder(opening: base.resolvingSymlinksInPath().path)
        try folder.removeTree("tree")
        try folder.removeTree("link")
        try folder.removeTree("never-was")
        #expect(folder.names() == ["outside"])
        #expect(try String(contentsOf: outside.appendingPathComponent("f"), encoding: .utf8) == "keep")
    }

    @Test func openingRefusesALinkOnThePath() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        try FileManager.default.createDirectory(at: base.appendingPathComponent("real"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: base.appendingPathComponent("link"), withDestinationURL: base.appendingPathComponent("real"))
        let real = base.resolvingSymlinksInPath().path
        var seen: [Bool] = []
        _ = try ConfinedFolder(opening: real + "/real") { _, isLast in seen.append(isLast) }
        #expect(seen.last == true && seen.dropLast().allSatisfy { !$0 })
        let error = #expect(throws: ConfinedPathError.self) { try ConfinedFolder(opening: real + "/link") }
        #expect(error?.reason == "is a symbolic link")
    }
}
