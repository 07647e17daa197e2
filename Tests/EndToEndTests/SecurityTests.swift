// What other local users and a hostile guest can do: nothing. An unprivileged user reads no
// disk, overlay, log or key; a guest's links and looping folders never steer a copy out of
// its target, nor do links planted on the host side. And a host without udev (/dev/kvm left
// 0600 root) is detected and fixed by scripts/setup.sh.

import Foundation
import Testing

extension EndToEnd {
@Suite struct SecurityTests {
    let image = Harness.demoImage

    /// Paths (of `paths`) that user `nobody`, with no groups, can open for reading.
    func readableByNobody(_ paths: [String]) async throws -> [String] {
        let script = #"for f; do if head -c1 -- "$f" >/dev/null 2>&1; then printf '%s\n' "$f"; fi; done"#
        let result = try await Harness.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                                                "/bin/sh", "-c", script, "sh"] + paths)
        return result.stdout.split(separator: "\n").map(String.init)
    }

    @Test func anotherLocalUserReadsNothingOfTheState() async throws {
        let name = "sec-\(UUID().uuidString.prefix(6).lowercased())"
        let started = try await Harness.podmanBootc(["run", "-B", "--name", name, image])
        #expect(started.status == 0, "stderr: \(started.stderr)")
        defer { Task { _ = try? await Harness.podmanBootc(["rm", "-f", name]) } }

        // Every regular file of the state (cached disks, kernels, warm states, the VM's
        // overlay, console log, keys, credentials, records), found as root.
        let root = Harness.stateDir.path
        let files = (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? [])
            .map { root + "/" + $0 }
            .filter { (try? FileManager.default.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeRegular }
        #expect(files.contains { $0.hasSuffix("/disk.raw") } && files.contains { $0.hasSuffix("/disk.qcow2") }
                && files.contains { $0.hasSuffix("/console.log") } && files.contains { $0.hasSuffix("/id_ed25519") }, "\(files.count) files")
        #expect(try await readableByNobody(files) == [], "readable by another user")
        let listing = try await Harness.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/ls", root])
        #expect(listing.status != 0, "another user can list the state folder")

        // The guest agent's sockets (root's commands in the guest): no other user connects.
        let sockets = (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? [])
            .map { root + "/" + $0 }
            .filter { (try? FileManager.default.attributesOfItem(atPath: $0)[.type] as? FileAttributeType) == .typeSocket }
        #expect(sockets.contains { $0.hasSuffix("/agent.out") }, "the VM has agent sockets: \(sockets)")
        for socket in sockets {
            let connect = try await Harness.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                "/usr/bin/python3", "-c", "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])", socket])
            #expect(connect.status != 0, "another user connected to \(socket)")
        }

        let removed = try await Harness.podmanBootc(["rm", "-f", name])
        #expect(removed.status == 0, "stderr: \(removed.stderr)")
    }

    @Test func guestLinksAndHostLinksNeverSteerACopy() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-links-\(UUID().uuidString.prefix(6))")
        defer { try? FileManager.default.removeItem(at: base) }
        let outside = base.appendingPathComponent("outside"), clean = base.appendingPathComponent("clean")
        let planted = base.appendingPathComponent("planted"), logs = base.appendingPathComponent("logs")
        for folder in [outside, clean, planted, logs] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        // Host side: the artifact's own name is a link out, the logs' console.log is a link to
        // a file that must keep its content, and a logs path goes through a linked folder.
        try FileManager.default.createSymbolicLink(at: planted.appendingPathComponent("tree"), withDestinationURL: outside)
        let victim = outside.appendingPathComponent("victim")
        try "keep".write(to: victim, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: logs.appendingPathComponent("console.log"), withDestinationURL: victim)
        try FileManager.default.createSymbolicLink(at: base.appendingPathComponent("linked"), withDestinationURL: outside)

        // Guest side: a folder looping on itself, links to secrets and to /, a world-writable
        // folder, and folders nested deeper than a copy may go.
        let plant = """
            set -e
            mkdir -p /tmp/tree/sub /tmp/deep
            echo data > /tmp/tree/file; echo inner > /tmp/tree/sub/inner
            ln -s . /tmp/tree/loop; ln -s /etc/shadow /tmp/tree/shadow; ln -s / /tmp/tree/root
            chmod 0777 /tmp/tree/sub
            cd /tmp/deep; for i in $(seq 1 40); do mkdir d; cd d; done; echo bottom > f
            """
        let result = try await Harness.podmanBootc([
            "run", "--rm", "--artifact", "/tmp/tree:\(clean.path)", "--artifact", "/tmp/tree:\(planted.path)",
            "--artifact", "/tmp/deep:\(clean.path)", "--logs", logs.path,
            "--artifact", "/etc/hostname:\(base.appendingPathComponent("linked/sub").path)",
            image, "--", "sh", "-c", plant])
        #expect(result.status == 0, "stderr: \(result.stderr)")

        // The clean copy: files, no links followed or made, our modes (not the guest's 0777).
        #expect(try String(contentsOf: clean.appendingPathComponent("tree/file"), encoding: .utf8) == "data\n")
        #expect(try String(contentsOf: clean.appendingPathComponent("tree/sub/inner"), encoding: .utf8) == "inner\n")
        for name in ["loop", "shadow", "root"] {
            #expect((try? FileManager.default.attributesOfItem(atPath: clean.appendingPathComponent("tree/\(name)").path)) == nil, "\(name) was copied")
        }
        let mode = try FileManager.default.attributesOfItem(atPath: clean.appendingPathComponent("tree/sub").path)[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o002 == 0 } == true, "the guest's 0777 reached the host: \(String(mode ?? 0, radix: 8))")
        #expect(result.stderr.contains("3 symbolic link(s) inside /tmp/tree were not copied"), "stderr: \(result.stderr)")
        // The deep folder stopped at the depth bound with a warning; the run still passed.
        #expect(result.stderr.contains("folders nested deeper than 32 levels"), "stderr: \(result.stderr)")

        // Nothing went through a host-side link.
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path) == ["victim"], "something was written outside")
        #expect(try String(contentsOf: victim, encoding: .utf8) == "keep")
        #expect(result.stderr.contains("\(planted.path)/tree is a symbolic link"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("\(base.path)/linked is a symbolic link"), "stderr: \(result.stderr)")
        let console = try FileManager.default.attributesOfItem(atPath: logs.appendingPathComponent("console.log").path)
        #expect(console[.type] as? FileAttributeType == .typeRegular, "console.log is still the planted link")
    }

    /// SIGTERM while `podman build` runs a RUN step: the step (a runc container, not a child
    /// of ours) is stopped too, and the run exits 143.
    @Test func sigtermDuringABuildStopsItsRunStep() async throws {
        let marker = "\(Int.random(in: 500...900)).25"
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-slow-\(UUID().uuidString.prefix(6).lowercased())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "FROM \(image)\nRUN sleep \(marker)\n".write(to: folder.appendingPathComponent("Containerfile"), atomically: false, encoding: .utf8)
        func stepRunning() async throws -> Bool {
            try await Harness.run("/usr/bin/pgrep", ["-f", "sleep \(marker)"]).status == 0
        }
        let status = try await Harness.podmanBootcInterrupted(["run", "--rm", folder.path, "--", "true"]) { _, pid in
            let started = try await Harness.waitUntil(timeout: 60) { try await stepRunning() }
            #expect(started, "the RUN step never started")
            kill(pid, SIGTERM)
        }
        #expect(status == 143)
        let stopped = try await Harness.waitUntil(timeout: 5) { try await !stepRunning() }
        #expect(stopped, "the RUN step outlived the run")
    }

    /// A host without udev leaves /dev/kvm 0600 root: the tool says so in one line, and
    /// scripts/setup.sh gives it udev's root:kvm 0660. (The time it costs per VM start, and
    /// what setup saves, is measured by `make bench`, not here.)
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/kvm")))
    func kvmDeviceWithoutUdevIsReportedAndFixedBySetup() async throws {
        let saved = try FileManager.default.attributesOfItem(atPath: "/dev/kvm")
        defer {
            chown("/dev/kvm", 0, (saved[.groupOwnerAccountID] as? NSNumber).map { gid_t($0.uint32Value) } ?? 0)
            chmod("/dev/kvm", mode_t((saved[.posixPermissions] as? Int) ?? 0o660))
        }
        #expect(chown("/dev/kvm", 0, 0) == 0 && chmod("/dev/kvm", 0o600) == 0)
        let missing = "localhost/podman-bootc-no-such-image:x"
        let warned = try await Harness.podmanBootc(["run", "--rm", missing, "--", "true"])
        #expect(warned.status == 127, "stderr: \(warned.stderr)")
        #expect(warned.stderr.contains("warning: /dev/kvm is mode 0600") && warned.stderr.contains("chmod 0660 /dev/kvm"), "stderr: \(warned.stderr)")

        let setup = try await Harness.run(Harness.repository.appendingPathComponent("scripts/setup.sh").path, [])
        #expect(setup.status == 0, "setup.sh: \(setup.stderr)")
        #expect(setup.stderr.contains("set it to root:kvm 0660"), "setup.sh: \(setup.stderr)")
        let fixed = try FileManager.default.attributesOfItem(atPath: "/dev/kvm")
        #expect(fixed[.posixPermissions] as? Int == 0o660)
        #expect(fixed[.groupOwnerAccountName] as? String == "kvm")
        let quiet = try await Harness.podmanBootc(["run", "--rm", missing, "--", "true"])
        #expect(!quiet.stderr.contains("/dev/kvm"), "stderr: \(quiet.stderr)")
    }
}
}
