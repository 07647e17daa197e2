// `podman-bootc run` for real: podman storage, the direct installer, libvirt + QEMU (TCG on
// hosts without usable KVM) and libssh2. Serialized: each test boots a VM on a small machine.

import Foundation
import Testing

/// Every end-to-end suite nests here, so no two tests boot VMs at the same time.
@Suite(.serialized) enum EndToEnd {}

extension EndToEnd {
@Suite struct RunTests {
    let image = Harness.demoImage

    struct Snapshot {
        var domains: Set<String>
        var folders: Set<String>
        static func take() async throws -> Snapshot { Snapshot(domains: try await Harness.domains(), folders: Harness.vmFolders()) }
    }

    /// After a --rm run nothing of the VM may remain: no domain, no state folder, no half-written disk.
    func expectNothingLeft(since before: Snapshot, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        // A finished --rm VM's domain is destroyed by libvirt as the run exits (auto-destroy),
        // not waited for: it is gone within moments.
        var domains = Set<String>()
        _ = try await Harness.waitUntil(timeout: 30) {
            domains = try await Harness.domains()
            return domains.subtracting(before.domains).isEmpty
        }
        #expect(domains.subtracting(before.domains).isEmpty, "a domain was left behind", sourceLocation: sourceLocation)
        #expect(Harness.vmFolders().subtracting(before.folders).isEmpty, "a VM folder was left behind", sourceLocation: sourceLocation)
        #expect(Harness.cachePartials().isEmpty, "a half-written disk was left behind", sourceLocation: sourceLocation)
    }

    @Test func printsTheGuestsOSRelease() async throws {
        let before = try await Snapshot.take()
        let result = try await Harness.podmanBootc(["run", "--rm", image, "--", "cat", "/etc/os-release"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("ID=debian"))
        #expect(result.stdout.contains("VERSION_CODENAME=bookworm"))
        try await expectNothingLeft(since: before)
    }

    @Test func exitStatusAndStderrComeFromTheGuest() async throws {
        let before = try await Snapshot.take()
        let result = try await Harness.podmanBootc(["run", "--rm", "--quiet", image, "--",
                                                    "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"])
        #expect(result.status == 7)
        #expect(result.stdout == "to-stdout\n")
        #expect(result.stderr == "to-stderr\n", "only the guest's stderr with --quiet")
        try await expectNothingLeft(since: before)
    }

    @Test func missingImageIsOneClearError() async throws {
        let before = try await Snapshot.take()
        let result = try await Harness.podmanBootc(["run", "--rm", "localhost/podman-bootc-does-not-exist:1", "--", "true"])
        #expect(result.status == 127, "not found")
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("localhost/podman-bootc-does-not-exist:1 is not in podman's image storage") == true)
        try await expectNothingLeft(since: before)
    }

    @Test func imageWithoutKernelIsOneClearError() async throws {
        let tag = "localhost/podman-bootc-e2e-nokernel:latest"
        try await Harness.buildImage(tag, containerfile: "FROM scratch\nCOPY hello /etc/hello\n", files: ["hello": "no kernel here\n"])
        let before = try await Snapshot.take()
        let result = try await Harness.podmanBootc(["run", "--rm", tag, "--", "true"])
        #expect(result.status == 125)
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("has no kernel") == true, "stderr: \(result.stderr)")
        try await expectNothingLeft(since: before)
        // The image's mount is released again.
        let mounted = try await Harness.run("/usr/bin/podman", ["image", "mount"]).stdout
        #expect(!mounted.contains("nokernel"))
    }

    @Test func unreachableLibvirtIsOneClearError() async throws {
        let before = try await Snapshot.take()
        let uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
        let result = try await Harness.podmanBootc(["run", "--rm", "--connect", uri, image, "--", "true"])
        #expect(result.status == 125)
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("cannot connect to libvirt at \(uri)") == true, "stderr: \(result.stderr)")
        try await expectNothingLeft(since: before)
    }

    @Test func sshTimeoutShowsTheConsoleAndCleansUp() async throws {
        let tag = "localhost/podman-bootc-e2e-nosshd:latest"
        try await Harness.buildImage(tag, containerfile: "FROM \(image)\nRUN systemctl disable ssh.service && rm /usr/sbin/sshd\n")
        let before = try await Snapshot.take()
        // Without --rm too: a VM that never answered SSH is removed.
        let result = try await Harness.podmanBootc(["run", "--ssh-timeout", "60s", tag, "--", "true"])
        #expect(result.status == 126, "a VM failure")
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("did not answer SSH") == true, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("last lines of the serial console"))
        try await expectNothingLeft(since: before)
        let strays = try await Harness.qemuProcesses().filter { $0.contains("nosshd") }
        #expect(strays.isEmpty)
    }

    @Test func ctrlCRemovesARmVM() async throws {
        let before = try await Snapshot.take()
        // --cold: the interrupt lands in a real boot, the longest stage.
        let status = try await Harness.podmanBootcInterrupted(["run", "--rm", "--cold", image, "--", "true"]) { stderr, pid in
            let waiting = await Harness.waitUntil(timeout: 120) { stderr().contains("Waiting for SSH") }
            #expect(waiting)
            #expect(stderr().contains("Booting VM") && !stderr().contains("Restoring VM"), "--cold boots: \(stderr())")
            kill(pid, SIGINT)
        }
        #expect(status == 130)
        try await expectNothingLeft(since: before)
    }

    @Test func killedRunLeavesNothingTheNextRunDoesNotRecover() async throws {
        let before = try await Snapshot.take()
        let status = try await Harness.podmanBootcInterrupted(["run", "--rm", image, "--", "true"]) { _, pid in
            let booting = try await Harness.waitUntil(timeout: 120) { try await Harness.domains().subtracting(before.domains).count == 1 }
            #expect(booting)
            kill(pid, SIGKILL)
        }
        #expect(status == 128 + SIGKILL)
        // libvirt destroys the auto-destroy domain when our connection drops.
        let destroyed = try await Harness.waitUntil(timeout: 30) { try await Harness.domains().subtracting(before.domains).isEmpty }
        #expect(destroyed)
        // The next run removes the dead run's folder (it fails fast here on a missing image).
        try await Harness.podmanBootc(["run", "--rm", "localhost/podman-bootc-does-not-exist:1", "--", "true"])
        try await expectNothingLeft(since: before)
    }
}
}
