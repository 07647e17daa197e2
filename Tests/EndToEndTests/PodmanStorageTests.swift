// Where images come from and where bootc runs: the sudo user's rootless storage (copied into
// rootful storage) and a podman system connection (the image is copied to it and the
// privileged install runs through it). The connection is a real `podman system service`
// with its own storage, the way a rootful podman machine is reached.

import Foundation
import Subprocess
import Testing

#if canImport(System)
import System
#else
import SystemPackage
#endif

extension EndToEnd {
@Suite struct PodmanStorageTests {
    static let user = "podman-bootc-e2e"

    @Test func imageOnlyInTheSudoUsersRootlessStorageIsCopiedIntoRootfulStorage() async throws {
        let user = try await RootlessUser.ensure(Self.user)
        let source = "localhost/podman-bootc-e2e-rootless-source:latest"
        try await Harness.buildImage(source, containerfile: "FROM scratch\nCOPY hello /hello\n", files: ["hello": "hi\n"])
        let archive = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-rootless-\(UUID().uuidString).tar")
        defer { try? FileManager.default.removeItem(at: archive) }
        #expect(try await Harness.run("/usr/bin/podman", ["save", "-q", "-o", archive.path, source]).status == 0)
        chmod(archive.path, 0o644)
        let loaded = try await user.podman(["load", "-q", "-i", archive.path])
        #expect(loaded.status == 0, "rootless podman load: \(loaded.stderr)")

        let image = "localhost/podman-bootc-e2e-rootless-only:\(UUID().uuidString.prefix(8).lowercased())"
        #expect(try await user.podman(["tag", source, image]).status == 0)
        #expect(try await Harness.run("/usr/bin/podman", ["image", "exists", image]).status == 1, "rootful storage starts without it")

        // Without sudo there is no user storage to look in: a clear not-found error.
        let alone = try await Harness.podmanBootc(["run", "--dry-run", image], environment: ["SUDO_USER": ""])
        #expect(alone.status == 127)
        #expect(alone.errorLines.first?.contains("is not in podman's image storage") == true, "stderr: \(alone.stderr)")

        // A dry run only says where the image would come from: it copies nothing.
        let planned = try await Harness.podmanBootc(["run", "--dry-run", image], environment: ["SUDO_USER": Self.user])
        #expect(planned.status == 0, "stderr: \(planned.stderr)")
        #expect(planned.stdout.contains("run would copy it from \(Self.user)'s rootless podman storage"), "stdout: \(planned.stdout)")
        #expect(try await Harness.run("/usr/bin/podman", ["image", "exists", image]).status == 1, "a dry run copied the image")

        // `cache add` copies it (and then finds no kernel in this tiny image: 125).
        let result = try await Harness.podmanBootc(["cache", "add", image], environment: ["SUDO_USER": Self.user])
        #expect(result.status == 125, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("Copying \(image) from \(Self.user)'s rootless podman storage into rootful podman storage"), "stderr: \(result.stderr)")
        #expect(try await Harness.run("/usr/bin/podman", ["image", "exists", image]).status == 0, "the image is now in rootful storage")
        _ = try await user.podman(["rmi", "-f", image, source])
        _ = try await Harness.run("/usr/bin/podman", ["rmi", "-f", image])
    }

    @Test func bootcInstallRunsThroughAPodmanConnectionAfterCopyingTheImage() async throws {
        try await BootcInstallTests().buildStandIn()
        try await withPodmanService { connection, _ in
            try await installThrough(connection)
        }
    }

    /// A user has no rootful podman: bootc install goes through a connection to one (here a
    /// root `podman system service` whose socket the user may use, as a podman machine's).
    @Test func aUserInstallsABootcImageThroughARootfulConnection() async throws {
        try await BootcInstallTests().buildStandIn()
        let user = try await RootlessUser.ensure(Self.user)
        try await user.load(BootcInstallTests.image)
        try await withPodmanService { connection, socket in
            chmod(socket, 0o666)
            let added = try await user.podman(["system", "connection", "add", connection, "unix://\(socket)"])
            #expect(added.status == 0, "connection add: \(added.stderr)")
            let result = try await user.podmanBootc(["cache", "add", "--connection", connection, "--filesystem", "ext4",
                                                     "--karg", "podman_bootc_e2e_user_connection=1", BootcInstallTests.image],
                                                    environment: ["PODMAN_BOOTC_PROGRESS": "always"])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stderr.contains("Copying \(BootcInstallTests.image) from your rootless podman storage to podman connection \(connection)"),
                    "stderr: \(result.stderr)")
            #expect(result.stderr.contains("bootc (test stand-in): installation complete"), "bootc ran: \(result.stderr)")
            let key = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let disk = "\(user.home)/.cache/podman-bootc/\(key)/disk.raw"
            var info = stat()
            #expect(!key.isEmpty && stat(disk, &info) == 0 && info.st_uid == user.uid, "the user's cache holds the user's disk: \(disk)")
            _ = try await user.podmanBootc(["cache", "prune"])
            _ = try await user.podman(["system", "connection", "remove", connection])
        }
    }

    /// A podman API service with storage of its own (the image is not there until copied),
    /// registered for root as a connection; `body` gets its name and socket path.
    func withPodmanService(_ body: (_ connection: String, _ socket: String) async throws -> Void) async throws {
        let work = URL(fileURLWithPath: "/var/tmp/podman-bootc-e2e-connection-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        chmod(work.path, 0o755)
        defer {
            // podman's overlay driver bind-mounts its layer folder onto itself.
            umount2(work.appendingPathComponent("storage/overlay").path, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(at: work)
        }
        let socket = work.appendingPathComponent("podman.sock").path
        let connection = "podman-bootc-e2e-\(UUID().uuidString.prefix(8).lowercased())"
        let service = Configuration(executable: .path("/usr/bin/podman"), arguments: [
            "--root", work.appendingPathComponent("storage").path, "--runroot", work.appendingPathComponent("run").path,
            "system", "service", "--time=0", "unix://\(socket)"])
        _ = try await Subprocess.run(service, input: .none, output: .discarded, error: .discarded) { execution in
            #expect(await Harness.waitUntil(timeout: 30) { FileManager.default.fileExists(atPath: socket) }, "podman system service did not listen")
            let added = try await Harness.run("/usr/bin/podman", ["system", "connection", "add", connection, "unix://\(socket)"])
            #expect(added.status == 0, "connection add: \(added.stderr)")
            var failure: (any Error)?
            do { try await body(connection, socket) } catch { failure = error }
            // The connection lives in the host's containers.conf: never leave it behind.
            _ = try? await Harness.run("/usr/bin/podman", ["system", "connection", "remove", connection])
            try? execution.send(signal: .terminate)
            if let failure { throw failure }
        }
    }

    func installThrough(_ connection: String) async throws {

            let options = ["--connection", connection, "--filesystem", "ext4", "--karg", "podman_bootc_e2e_connection=1"]
            let result = try await Harness.podmanBootc(["cache", "add"] + options + [BootcInstallTests.image],
                                                       environment: ["PODMAN_BOOTC_PROGRESS": "always"])
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stderr.contains("Copying \(BootcInstallTests.image) from rootful podman storage to podman connection \(connection)"),
                    "stderr: \(result.stderr)")
            #expect(result.stderr.contains("bootc (test stand-in): installation complete"), "bootc ran and its output streamed")
            let remote = try await Harness.run("/usr/bin/podman", ["--connection", connection, "image", "exists", BootcInstallTests.image])
            #expect(remote.status == 0, "the image was copied to the connection's storage")

            let key = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let disk = Harness.stateDir.appendingPathComponent("cache/\(key)/disk.raw")
            #expect(FileManager.default.fileExists(atPath: disk.path), "the cache entry holds the disk bootc wrote")
            try? FileManager.default.removeItem(at: disk.deletingLastPathComponent())
    }
}
}
