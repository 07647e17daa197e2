// `podman-bootc dev` for real: a Containerfile folder built FROM the demo image, a kept VM,
// and edits that reach it live over SFTP (a config file, a service's program, a removed
// file) or reboot it into a fresh install (a kernel argument).

import Foundation
import Testing

extension EndToEnd {
@Suite struct DevTests {
    /// The project: a config file, a service whose program records which version started,
    /// a file to remove later, and a kargs.d file.
    final class Project {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-dev-\(UUID().uuidString.prefix(8).lowercased())")

        init() throws {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try write("hello.conf", "greeting=one\n")
            try write("hello", Self.program("v1"), mode: 0o755)
            try write("hello.service", "[Unit]\nDescription=dev test service\n[Service]\nExecStart=/usr/local/bin/hello\n[Install]\nWantedBy=multi-user.target\n")
            try write("extra.txt", "extra\n")
            try write("10-dev.toml", "kargs = [\"podman_bootc_dev=1\"]\n")
            try containerfile(extra: true, kargs: false)
        }

        deinit { try? FileManager.default.removeItem(at: folder) }

        static func program(_ version: String) -> String {
            "#!/bin/sh\necho \"\(version) $$\" > /run/hello.state\nexec sleep infinity\n"
        }

        func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
            let file = folder.appendingPathComponent(name)
            try Data(text.utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file.path)
        }

        func containerfile(extra: Bool, kargs: Bool) throws {
            var lines = ["FROM \(Harness.demoImage)", "COPY hello.conf /etc/hello.conf", "COPY hello /usr/local/bin/hello",
                         "COPY hello.service /etc/systemd/system/hello.service", "RUN systemctl enable hello.service"]
            if extra { lines.append("COPY extra.txt /usr/share/podman-bootc-dev/extra.txt") }
            if kargs { lines.append("COPY 10-dev.toml /usr/lib/bootc/kargs.d/10-dev.toml") }
            // A link whose target changes with the extra file.
            lines.append("RUN ln -s \(extra ? "/etc/hello.conf" : "/etc/os-release") /etc/hello-link")
            try write("Containerfile", lines.joined(separator: "\n") + "\n")
        }
    }

    func ssh(_ name: String, _ command: String) async throws -> String {
        let result = try await Harness.podmanBootc(["ssh", name, "--", command])
        #expect(result.status == 0, "ssh \(command): \(result.stderr)")
        return result.stdout
    }

    @Test func editsReachTheRunningVMLiveOrByAFreshInstall() async throws {
        let project = try Project()
        let name = "e2e-dev-\(UUID().uuidString.prefix(4).lowercased())"
        let domainsBefore = try await Harness.domains()
        let status = try await Harness.podmanBootcWatched(["dev", "--rm", "--name", name, project.folder.path]) { stdout, stderr, pid in
            defer { kill(pid, SIGINT) }
            let up = await Harness.waitUntil(timeout: 300) { stdout().contains("VM \(name) is running") }
            try #require(up, "dev did not start the VM: \(stderr())")
            let first = try await ssh(name, "cat /etc/hello.conf; cat /run/hello.state")
            #expect(first.hasPrefix("greeting=one\nv1 "), "\(first)")

            // 1. A config file: live within 10 s of the save, no unit restarted.
            try project.write("hello.conf", "greeting=two\n")
            let saved = ContinuousClock.now
            let live = try await Harness.waitUntil(timeout: 30) { try await ssh(name, "cat /etc/hello.conf") == "greeting=two\n" }
            let seconds = (ContinuousClock.now - saved).components.seconds
            #expect(live && seconds < 10, "the edit took \(seconds) s to reach the VM: \(stdout())")
            #expect(await Harness.waitUntil(timeout: 10) { stdout().contains("edit 1: applied 1 change live (/etc/hello.conf)") }, "\(stdout())")
            let listed = try await Harness.podmanBootc(["list", "--format", "json"])
            #expect(listed.stdout.contains("\"liveImageID\""), "list marks a VM changed live: \(listed.stdout)")

            // 2. The service's program: the file is replaced and its unit restarted.
            try project.write("hello", Project.program("v2"), mode: 0o755)
            #expect(await Harness.waitUntil(timeout: 60) { stdout().contains("edit 2:") }, "\(stdout())")
            #expect(stdout().contains("restarted hello.service"), "\(stdout())")
            #expect(try await ssh(name, "cat /run/hello.state; stat -c '%a %u' /usr/local/bin/hello").hasPrefix("v2 "))

            // 3. A file the image no longer has is removed from the VM; a changed link follows.
            #expect(try await ssh(name, "cat /usr/share/podman-bootc-dev/extra.txt") == "extra\n")
            try project.containerfile(extra: false, kargs: false)
            #expect(await Harness.waitUntil(timeout: 60) { stdout().contains("edit 3:") }, "\(stdout())")
            #expect(try await ssh(name, "test -e /usr/share/podman-bootc-dev/extra.txt && echo there || echo gone; readlink /etc/hello-link")
                    == "gone\n/etc/os-release\n")

            // 4. A kernel argument: only a boot applies it, so the VM reboots into a fresh install.
            try project.containerfile(extra: false, kargs: true)
            #expect(await Harness.waitUntil(timeout: 300) { stdout().contains("edit 4:") }, "\(stdout())")
            #expect(stdout().contains("edit 4: rebooted into a fresh install, because /usr/lib/bootc/kargs.d"), "\(stdout())")
            #expect(try await ssh(name, "cat /proc/cmdline").contains("podman_bootc_dev=1"))
            #expect(try await ssh(name, "cat /etc/hello.conf; cat /run/hello.state").hasPrefix("greeting=two\nv2 "))
        }
        #expect(status == 130, "Ctrl-C ends dev")
        // --rm: the VM is gone with it.
        #expect(try await Harness.domains().subtracting(domainsBefore).isEmpty)
        let remaining = try await Harness.podmanBootc(["list", "-a"])
        #expect(!remaining.stdout.contains(name), "dev --rm left its VM: \(remaining.stdout)")
        _ = try await Harness.run("/usr/bin/podman", ["rmi", "-f", "localhost/\(project.folder.lastPathComponent):latest"])
    }

    /// An installed bootc system mounts /usr read-only (the stand-in's install does too): an
    /// edit there lands in a transient overlay, is served at once, and is gone after a reboot.
    @Test func editsUnderAReadOnlyUsrLiveUntilTheGuestReboots() async throws {
        try await BootcInstallTests().buildStandIn()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-dev-ro-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = "/usr/share/podman-bootc-dev/hello.txt"
        try Data("one\n".utf8).write(to: folder.appendingPathComponent("hello.txt"))
        try Data("FROM \(BootcInstallTests.image)\nCOPY hello.txt \(file)\n".utf8).write(to: folder.appendingPathComponent("Containerfile"))
        let name = "e2e-dev-ro-\(UUID().uuidString.prefix(4).lowercased())"
        let status = try await Harness.podmanBootcWatched(["dev", "--rm", "--filesystem", "ext4", "--name", name, folder.path]) { stdout, stderr, pid in
            defer { kill(pid, SIGINT) }
            let up = await Harness.waitUntil(timeout: 600) { stdout().contains("VM \(name) is running") }
            try #require(up, "dev did not start the VM: \(stderr())")
            let before = try await ssh(name, "if touch /usr/.probe 2>/dev/null; then echo writable; else echo read-only; fi; cat \(file)")
            #expect(before == "read-only\none\n", "\(before)")

            try Data("two\n".utf8).write(to: folder.appendingPathComponent("hello.txt"))
            let saved = ContinuousClock.now
            let live = try await Harness.waitUntil(timeout: 60) { try await ssh(name, "cat \(file)") == "two\n" }
            let seconds = (ContinuousClock.now - saved).components.seconds
            #expect(live && seconds < 10, "the edit took \(seconds) s to reach the VM: \(stdout()) \(stderr())")
            #expect(await Harness.waitUntil(timeout: 10) { stdout().contains("edit 1: applied 1 change live (\(file)); /usr made writable until reboot with a transient overlay") },
                    "\(stdout())")
            let listed = try await Harness.podmanBootc(["list", "--format", "json"])
            #expect(listed.stdout.contains("transient overlay"), "list shows /usr carries live changes: \(listed.stdout)")

            // The guest reboots: its /usr is the installed one again.
            _ = try await Harness.podmanBootc(["ssh", name, "--", "systemctl reboot"])
            let reverted = await Harness.waitUntil(timeout: 300) {
                (try? await Harness.podmanBootc(["ssh", name, "--", "cat \(file)"]))?.stdout == "one\n"
            }
            #expect(reverted, "after a reboot the guest serves the installed file")
        }
        #expect(status == 130, "Ctrl-C ends dev")
        _ = try await Harness.run("/usr/bin/podman", ["rmi", "-f", "localhost/\(folder.lastPathComponent):latest"])
    }

    @Test func explainListsTheRules() async throws {
        let result = try await Harness.podmanBootc(["dev", "--explain", "--reboot-on", "/etc/my-app/**"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("/usr/lib/modules/**") && result.stdout.contains("/etc/my-app/**: named by --reboot-on"))
        let missing = try await Harness.podmanBootc(["dev", "localhost/podman-bootc-no-build-definition:1"])
        #expect(missing.status == 64 && missing.stderr.contains("no build definition to watch"), "\(missing.stderr)")
        // Bad values are refused before anything is built (exit 64, one clear line).
        for arguments in [["dev"], ["dev", "--restart", "x.service; reboot", "."], ["dev", "--reboot-on", "relative/*", "."],
                          ["dev", "--name", "bad/name", "."], ["dev", "--restart", "", "."]] {
            let bad = try await Harness.podmanBootc(arguments)
            #expect(bad.status == 64, "\(arguments): \(bad.status) \(bad.stderr)")
        }
    }
}
}
