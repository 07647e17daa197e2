// An image that runs SELinux enforcing (Debian's reference policy), installed by the direct
// installer: every file carries its policy's label on the disk (read there with debugfs),
// the guest's own restorecon finds nothing to change, `dev` uploads get their labels, and
// --artifact works. Debian 12's policy has no rules for systemd credentials (systemd-tmpfiles
// may not read /run/credentials), so the guest cannot take its login key enforcing: it boots
// permissive here (docs/production-images.md says why), and the only denials it logs are
// those and the ones Debian's policy gives its own systemd; enforcing, the run says so.

import Foundation
import Testing

extension EndToEnd {
@Suite struct SELinuxTests {
    static let image = "localhost/podman-bootc-test:selinux"

    func buildImage() async throws {
        try await Harness.buildRepositoryImage("selinux", tag: Self.image)
    }

    /// The label debugfs reads on the disk's root filesystem.
    func labelOnDisk(_ disk: String, _ path: String) async throws -> String {
        // Prints: security.selinux (27) = "system_u:object_r:root_t:s0"
        let result = try await Harness.run("/usr/sbin/debugfs", ["-R", "ea_get \"\(path)\" security.selinux", "\(disk)?offset=1048576"])
        let quoted = result.stdout.split(separator: "\"")
        return quoted.count >= 2 ? String(quoted[1]).replacingOccurrences(of: "\\000", with: "") : ""
    }

    @Test func directInstallLabelsEveryFileAndTheGuestAgrees() async throws {
        try await buildImage()
        // A fresh install, not one an earlier run left.
        struct Plan: Decodable { var key: String }
        let planned = try await Harness.podmanBootc(["run", "--dry-run", "--format", "json", "--installer", "direct", Self.image])
        let planKey = try JSONDecoder().decode(Plan.self, from: Data(planned.stdout.utf8)).key
        try? FileManager.default.removeItem(at: Harness.stateDir.appendingPathComponent("cache/\(planKey)"))
        let added = try await Harness.podmanBootc(["cache", "add", "--installer", "direct", Self.image])
        try #require(added.status == 0, "cache add: \(added.stderr)")
        let key = added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let disk = Harness.stateDir.appendingPathComponent("cache/\(key)/disk.raw").path
        for (path, type) in [("/", "root_t"), ("/etc/shadow", "shadow_t"), ("/usr/sbin/sshd", "sshd_exec_t"),
                             ("/usr/bin/ls", "bin_t"), ("/etc/ssh/sshd_config", "etc_t"), ("/lost+found", "lost_found_t"),
                             ("/var/log", "var_log_t")] {
            let label = try await labelOnDisk(disk, path)
            #expect(label == "system_u:object_r:\(type):s0", "\(path) on the disk: \(label)")
        }

        let artifacts = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-selinux-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: artifacts) }
        let script = """
            echo mode=$(getenforce)
            restorecon -RnxF / | grep -v '^restorecon: ' | sed 's/^/wrong: /'
            journalctl -b | grep -o 'avc:  denied .* comm="[^"]*"' | grep -o 'comm="[^"]*"' | sort -u | sed 's/^/denied: /'
            """
        let result = try await Harness.podmanBootc(["run", "--rm", "--cold", "--installer", "direct", "--karg", "enforcing=0",
                                                    "--artifact", "/etc/os-release:\(artifacts.path)", Self.image, "--", script])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("mode=Permissive"), "\(result.stdout)")
        #expect(!result.stdout.contains("wrong: "), "restorecon in the guest would change labels: \(result.stdout)")
        // Only Debian's own systemd units and podman-bootc's credentials (read by tmpfiles and,
        // through the host key's link, by sshd) are denied; nothing else podman-bootc does.
        let denied = Set(result.stdout.split(separator: "\n").filter { $0.hasPrefix("denied: ") }.map { String($0.dropFirst(8)) })
        #expect(denied.isSubset(of: ["comm=\"systemd-tmpfile\"", "comm=\"sshd\"", "comm=\"systemd-udevd\"", "comm=\"agetty\""]),
                "\(denied)")
        #expect(FileManager.default.fileExists(atPath: artifacts.appendingPathComponent("os-release").path), "--artifact copied the file")
    }

    /// Enforcing, Debian 12's policy keeps the guest from its login keys: the run fails with a
    /// word about SELinux and what to do, not a bare host-key error.
    @Test func anEnforcingGuestThatCannotTakeItsKeysSaysWhy() async throws {
        try await buildImage()
        let result = try await Harness.podmanBootc(["run", "--rm", "--cold", "--installer", "direct", Self.image, "--", "true"])
        #expect(result.status == 126, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("runs SELinux enforcing") && result.stderr.contains("--karg enforcing=0"), "\(result.stderr)")
    }

    /// dev's uploads get the label the policy gives their path (a key file under /etc/ssh:
    /// sshd_key_t, not the folder's etc_t), through the guest's restorecon.
    @Test func devUploadsGetTheirPolicyLabels() async throws {
        try await buildImage()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-dev-selinux-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("first\n".utf8).write(to: folder.appendingPathComponent("key"))
        try Data("FROM \(Self.image)\nCOPY key /etc/podman-bootc-dev.conf\n".utf8).write(to: folder.appendingPathComponent("Containerfile"))
        let name = "e2e-dev-se-\(UUID().uuidString.prefix(4).lowercased())"
        let status = try await Harness.podmanBootcWatched(["dev", "--rm", "--installer", "direct", "--karg", "enforcing=0", "--name", name,
                                                           folder.path]) { stdout, stderr, pid in
            defer { kill(pid, SIGINT) }
            let up = await Harness.waitUntil(timeout: 600) { stdout().contains("VM \(name) is running") }
            try #require(up, "dev did not start the VM: \(stderr())")
            try Data("FROM \(Self.image)\nCOPY key /etc/podman-bootc-dev.conf\nCOPY key /etc/ssh/ssh_host_podman_bootc_test_key\n".utf8)
                .write(to: folder.appendingPathComponent("Containerfile"))
            #expect(await Harness.waitUntil(timeout: 120) { stdout().contains("edit 1:") }, "\(stdout()) \(stderr())")
            let label = try await Harness.podmanBootc(["ssh", name, "--", "stat -c %C /etc/ssh/ssh_host_podman_bootc_test_key"])
            #expect(label.stdout == "system_u:object_r:sshd_key_t:s0\n", "\(label.stdout) \(label.stderr)")
        }
        #expect(status == 130)
        _ = try await Harness.run("/usr/bin/podman", ["rmi", "-f", "localhost/\(folder.lastPathComponent):latest"])
    }
}
}
