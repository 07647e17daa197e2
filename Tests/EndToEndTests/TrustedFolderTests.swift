// No other local user plants what root runs: another user's project folder (its images.yml,
// a template linked to /etc/shadow) is refused before anything in it is read or written, and
// export writes no key into another user's folder. Nothing here boots a VM.

import Foundation
import Subprocess
import Testing

#if canImport(System)
import System
#else
import SystemPackage
#endif

extension EndToEnd {
@Suite(.enabled(if: geteuid() == 0, "makes folders owned by another user")) struct TrustedFolderTests {
    /// Another local user: nobody.
    static let otherUID: uid_t = 65534

    /// A copy of the layer generator's seed project owned by the other user, with its
    /// supervisord header template linked to /etc/shadow.
    func plantedProject() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-trust-\(UUID().uuidString.prefix(6))")
        let seed = Harness.repository.appendingPathComponent("Tests/LayersTests/Fixtures/seed")
        try FileManager.default.copyItem(at: seed, to: folder)
        let header = folder.appendingPathComponent("templates/supervisord.header.conf")
        try FileManager.default.removeItem(at: header)
        try FileManager.default.createSymbolicLink(atPath: header.path, withDestinationPath: "/etc/shadow")
        let chown = try chownTree(folder)
        #expect(chown == 0)
        return folder
    }

    func chownTree(_ folder: URL) throws -> Int32 {
        var failures: Int32 = 0
        let paths = [folder.path] + (FileManager.default.subpaths(atPath: folder.path) ?? []).map { folder.path + "/" + $0 }
        for path in paths where lchown(path, Self.otherUID, Self.otherUID) != 0 { failures += 1 }
        return failures
    }

    /// Every entry under `folder` with its type, mode, owner, size and modification time.
    func snapshot(_ folder: URL) -> [String] {
        ([""] + (FileManager.default.subpaths(atPath: folder.path) ?? [])).sorted().map { path in
            var info = stat()
            lstat(folder.path + "/" + path, &info)
            return "\(path) \(String(info.st_mode, radix: 8)) \(info.st_uid) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
    }

    /// podman-bootc run in `folder` as its working directory.
    func podmanBootc(_ arguments: [String], in folder: URL) async throws -> Harness.Result {
        let result = try await Subprocess.run(
            .path(FilePath(Harness.binary)), arguments: Arguments(arguments),
            environment: .inherit.updating(["PODMAN_BOOTC_PROGRESS": "never"]), workingDirectory: FilePath(folder.path),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        return Harness.Result(status: Harness.code(result.terminationStatus), stdout: result.standardOutput, stderr: result.standardError)
    }

    @Test func anotherUsersProjectIsRefusedAndLeftUntouched() async throws {
        let folder = try plantedProject()
        defer { try? FileManager.default.removeItem(at: folder) }
        let before = snapshot(folder)

        let dryRun = try await podmanBootc(["run", "--dry-run", "fedora-test"], in: folder)
        #expect(dryRun.status == 64, "stderr: \(dryRun.stderr)")
        #expect(dryRun.errorLines.count == 1 && dryRun.stderr.contains("not by you") && dryRun.stderr.contains("--config \(folder.path)/images.yml"),
                "stderr: \(dryRun.stderr)")

        let generate = try await podmanBootc(["layers", "generate"], in: folder)
        #expect(generate.status == 1 && generate.stderr.contains("--config"), "stderr: \(generate.stderr)")

        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent(".build").path))
        #expect(snapshot(folder) == before, "nothing written, moved or removed there")

        // Named explicitly, the project is used, and its template link still is not followed.
        let named = try await podmanBootc(["layers", "generate", "--config", folder.appendingPathComponent("images.yml").path], in: folder)
        #expect(named.status == 1 && named.stderr.contains("supervisord.header.conf: is a symbolic link"), "stderr: \(named.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent(".build").path))
    }

    /// A world-writable folder of root's (/tmp's kind) holding another user's images.yml:
    /// refused for the folder, whoever owns the file.
    @Test func aFolderEveryoneCanWriteToIsRefused() async throws {
        let folder = try plantedProject()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(lchown(folder.path, 0, 0) == 0 && chmod(folder.path, 0o1777) == 0)
        let dryRun = try await podmanBootc(["run", "--dry-run", "fedora-test"], in: folder)
        #expect(dryRun.status == 64 && dryRun.stderr.contains("writable by every user"), "stderr: \(dryRun.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent(".build").path))
    }

    /// export refuses another user's empty folder for keys before any build or install: the
    /// image named does not even exist.
    @Test func exportRefusesAnotherUsersIdentityFolderUpFront() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-trust-export-\(UUID().uuidString.prefix(6))")
        let theirs = base.appendingPathComponent("theirs")
        try FileManager.default.createDirectory(at: theirs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        #expect(chown(theirs.path, Self.otherUID, Self.otherUID) == 0 && chmod(theirs.path, 0o700) == 0)
        let image = "localhost/podman-bootc-e2e-no-such-image:\(UUID().uuidString.prefix(6).lowercased())"
        let started = ContinuousClock.now

        let identity = try await podmanBootc(["export", image, "--format", "qcow2", "-o", base.appendingPathComponent("d.qcow2").path,
                                              "--identity", theirs.path], in: base)
        #expect(identity.status == 64 && identity.stderr.contains("uid 65534"), "stderr: \(identity.stderr)")
        let kubevirt = try await podmanBootc(["export", image, "--format", "kubevirt", "-o", theirs.path], in: base)
        #expect(kubevirt.status == 64 && kubevirt.stderr.contains("uid 65534"), "stderr: \(kubevirt.stderr)")

        #expect(ContinuousClock.now - started < .seconds(30), "refused before any install work")
        #expect(try FileManager.default.contentsOfDirectory(atPath: theirs.path).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: base.path) == ["theirs"])
    }
}
}
