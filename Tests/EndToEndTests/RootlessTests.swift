// podman-bootc run by unprivileged users: each has rootless podman storage of its own and
// libvirt's session daemon, state under its XDG folders, and no process of the run is root's.

import Foundation
import Testing

/// An unprivileged account made by the test (useradd gives it subordinate IDs for rootless
/// podman), and podman-bootc run as that account.
struct RootlessUser {
    let name: String
    let home: String
    let uid: uid_t

    static func ensure(_ name: String) async throws -> RootlessUser {
        if getpwnam(name) == nil {
            let added = try await Harness.run("/usr/sbin/useradd", ["-m", name])
            #expect(added.status == 0, "useradd: \(added.stderr)")
        }
        let entry = try #require(getpwnam(name)).pointee
        return RootlessUser(name: name, home: String(cString: entry.pw_dir), uid: entry.pw_uid)
    }

    /// `program arguments` as this user, from /, with a login-like environment: Debian's user
    /// PATH (no sbin) and no XDG_RUNTIME_DIR (a `runuser` or `su` session has none).
    func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Harness.Result {
        let settings = ["HOME=\(home)", "USER=\(name)", "PATH=/usr/local/bin:/usr/bin:/bin"]
            + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try await Harness.run("/usr/sbin/runuser", ["-u", name, "--", "env", "-i", "-C", "/"] + settings + [program] + arguments)
    }

    func podman(_ arguments: [String]) async throws -> Harness.Result {
        try await run("/usr/bin/podman", arguments)
    }

    /// podman-bootc as this user (a copy every user may run: the build folder may be private).
    func podmanBootc(_ arguments: [String], environment: [String: String] = [:]) async throws -> Harness.Result {
        try await run(try RootlessUser.sharedBinary.get(), arguments, environment: environment)
    }

    /// Copied once per test process.
    static let sharedBinary = Result<String, any Error> { try copyBinary() }

    private static func copyBinary() throws -> String {
        let folder = "/var/tmp/podman-bootc-e2e-bin"
        let copy = folder + "/podman-bootc"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try FileManager.default.copyItem(atPath: Harness.binary, toPath: copy)
        chmod(folder, 0o755)
        chmod(copy, 0o755)
        return copy
    }

    /// Gives this user `image` from rootful storage (podman save | podman load, as a file the
    /// user can read).
    func load(_ image: String) async throws {
        if try await podman(["image", "exists", image]).status == 0 { return }
        let archive = "/var/tmp/podman-bootc-e2e-\(UUID().uuidString).tar"
        defer { try? FileManager.default.removeItem(atPath: archive) }
        let saved = try await Harness.run("/usr/bin/podman", ["save", "-q", "-o", archive, image])
        #expect(saved.status == 0, "podman save: \(saved.stderr)")
        chmod(archive, 0o644)
        let loaded = try await podman(["load", "-q", "-i", archive])
        #expect(loaded.status == 0, "rootless podman load: \(loaded.stderr)")
    }
}

extension EndToEnd {
@Suite struct RootlessTests {
    static let image = "localhost/podman-bootc-e2e-rootless:owners"

    /// Every file and folder under root's state, with its modification time.
    func rootStateSnapshot() -> [String: Double] {
        var snapshot: [String: Double] = [:]
        let root = Harness.stateDir.path
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [:] }
        while let path = walker.nextObject() as? String {
            var info = stat()
            if lstat(root + "/" + path, &info) == 0 {
                snapshot[path] = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            }
        }
        return snapshot
    }

    /// The demo image plus a folder and file owned by uid 1234 and a setuid program, built
    /// by the user with rootless podman.
    func buildImage(as user: RootlessUser) async throws {
        try await user.load(Harness.demoImage)
        let dir = "/var/tmp/podman-bootc-e2e-rootless-build-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let containerfile = """
            FROM \(Harness.demoImage)
            RUN install -d -o 1234 -g 1234 /srv/owned && touch /srv/owned/file && chown 1234:1234 /srv/owned/file \\
             && cp /bin/true /usr/local/bin/suid-true && chmod 4755 /usr/local/bin/suid-true

            """
        try containerfile.write(toFile: dir + "/Containerfile", atomically: true, encoding: .utf8)
        chmod(dir + "/Containerfile", 0o644)
        let built = try await user.podman(["build", "-q", "-t", Self.image, dir])
        #expect(built.status == 0, "rootless podman build: \(built.stderr)")
    }

    /// The user's QEMU and libvirtd processes for a VM named `name` and their owners.
    func processOwners(matching name: String) throws -> [uid_t] {
        let pids = (try FileManager.default.contentsOfDirectory(atPath: "/proc")).compactMap { pid_t($0) }
        return pids.compactMap { pid -> uid_t? in
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmdline, as: UTF8.self).contains(name) else { return nil }
            var info = stat()
            return stat("/proc/\(pid)", &info) == 0 ? info.st_uid : nil
        }
    }

    @Test func aUserBootsTheirOwnImageAndManagesItsVMWithoutRoot() async throws {
        let user = try await RootlessUser.ensure("podman-bootc-e2e")
        let other = try await RootlessUser.ensure("podman-bootc-e2e-other")
        try await buildImage(as: user)
        let before = rootStateSnapshot()
        let progress = ["PODMAN_BOOTC_PROGRESS": "always"]

        // CI mode: the guest's `id -u`, file owners and the setuid bit as the image has them.
        let check = try await user.podmanBootc(
            ["run", "--rm", Self.image, "--", "sh", "-c", "id -u; stat -c '%u:%g %a' /srv/owned/file /usr/local/bin/suid-true"],
            environment: progress)
        #expect(check.status == 0, "stderr: \(check.stderr)")
        #expect(check.stdout.split(separator: "\n") == ["0", "1234:1234 644", "0:0 4755"], "stdout: \(check.stdout)")
        #expect(FileManager.default.fileExists(atPath: user.home + "/.cache/podman-bootc"), "the disk cache is the user's XDG cache")

        // A kept VM: restored from the warm state `cache warm` saves (a first run saves none).
        let warmed = try await user.podmanBootc(["cache", "warm", Self.image])
        #expect(warmed.status == 0, "stderr: \(warmed.stderr)")
        let name = "rootless-\(UUID().uuidString.prefix(6).lowercased())"
        let started = try await user.podmanBootc(["run", "-B", "--name", name, Self.image], environment: progress)
        #expect(started.status == 0, "stderr: \(started.stderr)")
        #expect(started.stderr.contains("Restoring VM \(name) from warm state"), "stderr: \(started.stderr)")
        let owners = try processOwners(matching: name)
        #expect(!owners.isEmpty && owners.allSatisfy { $0 == user.uid }, "processes of \(name) run as \(owners), not only as \(user.uid)")

        let listed = try await user.podmanBootc(["list", "--format", "json"])
        let views = (try? JSONSerialization.jsonObject(with: Data(listed.stdout.utf8))) as? [[String: Any]] ?? []
        #expect(views.contains { $0["name"] as? String == name && $0["status"] as? String == "running" }, "list: \(listed.stdout)")

        // Two users (and root) each see only their own VMs and cache.
        for listing in [["list", "-a"], ["cache", "list"]] {
            let result = try await other.podmanBootc(listing + ["--format", "json"])
            let rows = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [Any]
            #expect(result.status == 0 && rows?.isEmpty == true, "another user's \(listing.joined(separator: " ")): \(result.stdout)")
        }
        #expect(try await other.podmanBootc(["ssh", name, "--", "true"]).status != 0, "another user reached \(name)")
        let rootsList = try await Harness.podmanBootc(["list", "-a"])
        #expect(rootsList.status == 0 && !rootsList.stdout.contains(name), "root's list: \(rootsList.stdout) \(rootsList.stderr)")

        let images = try await user.podmanBootc(["images"])
        #expect(images.status == 0 && images.stdout.contains(Self.image), "images as the user: \(images.stdout) \(images.stderr)")
        let logs = try await user.podmanBootc(["logs", name])
        #expect(logs.status == 0 && !logs.stdout.isEmpty, "the console log: \(logs.stderr)")

        let ssh = try await user.podmanBootc(["ssh", name, "--", "sh", "-c", "ls -n /srv/owned/file && whoami"])
        #expect(ssh.status == 0 && ssh.stdout.contains("root"), "ssh: \(ssh.stdout) \(ssh.stderr)")
        let stopped = try await user.podmanBootc(["stop", name])
        #expect(stopped.status == 0, "stop: \(stopped.stderr)")
        let all = try await user.podmanBootc(["list", "-a", "--format", "json"])
        #expect(all.stdout.contains("\"stopped\""), "list -a after stop: \(all.stdout)")
        let restarted = try await user.podmanBootc(["start", name])
        #expect(restarted.status == 0, "start: \(restarted.stderr)")
        #expect(try await user.podmanBootc(["ssh", name, "--", "true"]).status == 0)
        let removed = try await user.podmanBootc(["rm", "-f", name])
        #expect(removed.status == 0, "rm: \(removed.stderr)")
        #expect(!(try await user.podmanBootc(["list", "-a"]).stdout.contains(name)), "\(name) is still listed")

        // bootc install needs rootful podman: the error names the ways out.
        let bootc = try await user.podmanBootc(["cache", "add", "--installer", "bootc", Self.image])
        #expect(bootc.status != 0)
        for choice in ["--connection", "--installer direct", "sudo"] {
            #expect(bootc.stderr.contains(choice), "stderr: \(bootc.stderr)")
        }

        #expect(rootStateSnapshot() == before, "root's state folder changed while users ran podman-bootc")
    }
}
}
