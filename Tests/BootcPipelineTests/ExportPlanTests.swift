// export's options, checked and resolved to paths before anything is built or installed.

@testable import BootcPipeline
import BootcCore
import Host
import SSH
import Export
import Foundation
import Testing

@Suite struct ExportPlanTests {
    func request(_ format: ExportFormat, target: String = "localhost/podman-bootc-test:debian", output: String? = nil, tag: String? = nil,
                 identity: String? = nil, name: String? = nil) -> ExportRequest {
        ExportRequest(target: target, config: nil, format: format, output: output, tag: tag, identity: identity, name: name,
                      user: .root, disk: DiskChoices(), cpus: 2, memoryMiB: 2048)
    }

    @Test func theDefaultNameComesFromWhatTheUserNamed() {
        #expect(ExportSequence.defaultName(for: "quay.io/fedora/fedora-bootc:42") == "fedora-bootc")
        #expect(ExportSequence.defaultName(for: "localhost/x@sha256:abc") == "x")
        #expect(ExportSequence.defaultName(for: "./images/web/") == "web")
        #expect(ExportSequence.defaultName(for: "/etc/containers/systemd/app.build") == "app")
        #expect(ExportSequence.defaultName(for: "My_Image") == "my-image")
        #expect(ExportSequence.defaultName(for: "___") == "podman-bootc")
        #expect(ExportSequence.defaultName(for: "") == "podman-bootc")
    }

    @Test func defaultOutputsFollowTheName() throws {
        let qcow2 = try ExportSequence.Plan(request(.qcow2, target: "localhost/podman-bootc-export-plan-\(UUID().uuidString.prefix(6).lowercased())"))
        #expect(qcow2.diskOutput?.lastPathComponent == "\(qcow2.name).qcow2")
        #expect(qcow2.identityFolder == nil)
        let kubevirt = try ExportSequence.Plan(request(.kubevirt, name: "demo-\(UUID().uuidString.prefix(6).lowercased())"))
        #expect(kubevirt.identityFolder?.lastPathComponent == "\(kubevirt.name)-kubevirt")
        #expect(kubevirt.tag == nil)
    }

    @Test func anExistingOutputIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("export-plan-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let disk = folder.appendingPathComponent("d.raw")
        #expect(FileManager.default.createFile(atPath: disk.path, contents: Data()))
        #expect(throws: ExportError.outputExists(disk.path)) { try ExportSequence.Plan(request(.raw, output: disk.path)) }
        #expect(throws: ExportError.outputFolderMissing(folder.path + "/none/d.raw")) {
            try ExportSequence.Plan(request(.raw, output: folder.path + "/none/d.raw"))
        }
    }

    @Test func optionsThatDoNotFitTheFormatAreUsageErrors() {
        let cases: [ExportRequest] = [
            request(.raw, tag: "localhost/x:1"),
            request(.containerdisk, output: "x.qcow2"),
            request(.kubevirt, identity: "id"),
            request(.containerdisk, tag: "Bad Tag"),
            request(.containerdisk, tag: "abcdef0123"),
            request(.qcow2, name: "Bad_Name"),
        ]
        for bad in cases {
            #expect(throws: ExportUsageError.self) { try ExportSequence.Plan(bad) }
        }
    }

    @Test func aNonEmptyIdentityFolderIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("export-id-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try ExportSequence.Plan(request(.qcow2, output: folder.appendingPathComponent("d.qcow2").path, identity: folder.path)).identityFolder?.path == folder.path)
        #expect(FileManager.default.createFile(atPath: folder.appendingPathComponent("id_ed25519").path, contents: Data()))
        #expect(throws: ExportUsageError.identityFolderNotEmpty(folder.path)) {
            try ExportSequence.Plan(request(.qcow2, output: folder.appendingPathComponent("d.qcow2").path, identity: folder.path))
        }
    }
}

/// export writes keys only into a folder that stays the caller's, and the disk into -o's
/// folder without a guessable partial name.
@Suite struct ExportOutputTrustTests {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("export-trust-\(UUID().uuidString.prefix(6))")

    init() throws { try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true) }

    func plan(identity: String) throws -> ExportSequence.Plan {
        try ExportSequence.Plan(ExportRequest(target: "localhost/x", config: nil, format: .qcow2, output: base.appendingPathComponent("d.qcow2").path,
                                              tag: nil, identity: identity, name: nil, user: .root, disk: DiskChoices(), cpus: 2, memoryMiB: 2048))
    }

    @Test func anIdentityFolderOthersCanWriteToIsRefusedUpFront() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let folder = base.appendingPathComponent("id")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        chmod(folder.path, 0o777)
        let error = #expect(throws: ExportUsageError.self) { try plan(identity: folder.path) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("writable by every user"))
        chmod(folder.path, 0o700)
        _ = try plan(identity: folder.path)
        // A new folder in a parent others may write to (not sticky): refused too.
        chmod(base.path, 0o777)
        #expect(throws: ExportUsageError.self) { try plan(identity: base.appendingPathComponent("new").path) }
        chmod(base.path, 0o755)
    }

    @Test(.enabled(if: geteuid() == 0)) func anotherUsersEmptyFolderIsRefused() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let folder = base.appendingPathComponent("theirs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        chmod(folder.path, 0o700)
        #expect(chown(folder.path, 65534, 65534) == 0)
        let error = #expect(throws: ExportUsageError.self) { try plan(identity: folder.path) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("uid 65534"))
        #expect(throws: UntrustedFolderError.self) { try PrivateOutputFolder(folder.path) }
    }

    @Test func keysAreWrittenNewIntoTheHeldFolder() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let output = try PrivateOutputFolder(base.appendingPathComponent("made").path)
        #expect(output.created && output.folder.status.st_mode & 0o777 == 0o700)
        // A link planted in the folder where a key goes is refused, not written through.
        let victim = base.appendingPathComponent("victim")
        try "keep".write(to: victim, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: base.appendingPathComponent("made/id_ed25519").path, withDestinationPath: victim.path)
        #expect(throws: ConfinedPathError.self) { try SSHKeyPair().write(into: output.folder, name: "id_ed25519", comment: "c") }
        #expect(try String(contentsOf: victim, encoding: .utf8) == "keep")
        output.removeWritten()
        #expect(!FileManager.default.fileExists(atPath: base.appendingPathComponent("made").path))
    }

    /// Across filesystems (/dev/shm to the temporary folder) the copy keeps holes, leaves no
    /// partial file and never replaces an existing output.
    @Test(.enabled(if: FileManager.default.isWritableFile(atPath: "/dev/shm"))) func aCopiedDiskKeepsItsHolesAndReplacesNothing() throws {
        defer { try? FileManager.default.removeItem(at: base) }
        let disk = URL(fileURLWithPath: "/dev/shm/export-disk-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: disk) }
        let fd = open(disk.path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        #expect(fd >= 0)
        #expect(pwrite(fd, "start", 5, 0) == 5 && pwrite(fd, "end", 3, (64 << 20) - 3) == 3)
        close(fd)
        let output = base.appendingPathComponent("disk.raw")
        try DiskPublisher.publish(disk, at: output)
        #expect(try Data(contentsOf: output) == (try Data(contentsOf: disk)))
        var info = stat()
        #expect(stat(output.path, &info) == 0 && Int(info.st_blocks) * 512 < 8 << 20, "holes stay holes: \(info.st_blocks) blocks")
        #expect(try FileManager.default.contentsOfDirectory(atPath: base.path) == ["disk.raw"])
        #expect(throws: ExportError.outputExists(output.path)) { try DiskPublisher.publish(disk, at: output) }
    }
}
