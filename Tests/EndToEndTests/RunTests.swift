// `podman-bootc run` for real: podman storage, the direct installer, libvirt + QEMU (TCG on
// hosts without usable KVM) and libssh2. Serialized: each test boots a VM on a small machine.

import Foundation
import Testing

/// Every end-to-end suite nests here, so no two tests boot VMs at the same time.
@Suite(.serialized) enum EndToEnd {}

extension EndToEnd {
@Suite struct RunTests {
    let image = Harness.demoImage

    /// After a --rm run nothing of the VM may remain: no domain, no state folder, no QEMU.
    func expectNothingLeft(domainsBefore: Set<String>, foldersBefore: Set<String>,
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try Harness.domains().subtracting(domainsBefore).isEmpty, "a domain was left behind", sourceLocation: sourceLocation)
        #expect(Harness.vmFolders().subtracting(foldersBefore).isEmpty, "a VM folder was left behind", sourceLocation: sourceLocation)
        #expect(Harness.cachePartials().isEmpty, "a half-written disk was left behind", sourceLocation: sourceLocation)
    }

    @Test func printsTheGuestsOSRelease() throws {
        let domains = try Harness.domains(), folders = Harness.vmFolders()
        let result = try Harness.podmanBootc(["run", "--rm", image, "--", "cat", "/etc/os-release"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("ID=debian"))
        #expect(result.stdout.contains("VERSION_CODENAME=bookworm"))
        try expectNothingLeft(domainsBefore: domains, foldersBefore: folders)
    }

    @Test func exitStatusAndStderrComeFromTheGuest() throws {
        let domains = try Harness.domains(), folders = Harness.vmFolders()
        let result = try Harness.podmanBootc(["run", "--rm", "--quiet", image, "--",
                                              "sh", "-c", "echo to-stdout; echo to-stderr >&2; hostname; exit 7"])
        #expect(result.status == 7)
        #expect(result.stdout.hasPrefix("to-stdout\n"))
        #expect(result.stderr == "to-stderr\n", "only the guest's stderr with --quiet")
        try expectNothingLeft(domainsBefore: domains, foldersBefore: folders)
    }

    @Test func missingImageIsOneClearError() throws {
        let domains = try Harness.domains(), folders = Harness.vmFolders()
        let result = try Harness.podmanBootc(["run", "--rm", "localhost/podman-bootc-does-not-exist:1", "--", "true"])
        #expect(result.status == 125)
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("localhost/podman-bootc-does-not-exist:1 is not in podman's image storage") == true)
        try expectNothingLeft(domainsBefore: domains, foldersBefore: folders)
    }

    @Test func imageWithoutKernelIsOneClearError() throws {
        let tag = "localhost/podman-bootc-e2e-nokernel:latest"
        try Harness.buildImage(tag, containerfile: "FROM scratch\nCOPY hello /etc/hello\n", files: ["hello": "no kernel here\n"])
        let domains = try Harness.domains(), folders = Harness.vmFolders()
        let result = try Harness.podmanBootc(["run", "--rm", tag, "--", "true"])
        #expect(result.status == 125)
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("has no kernel") == true, "stderr: \(result.stderr)")
        try expectNothingLeft(domainsBefore: domains, foldersBefore: folders)
        // The image's mount is released again.
        let mounted = try Harness.run("/usr/bin/podman", ["image", "mount"]).stdout
        #expect(!mounted.contains("nokernel"))
    }

    @Test func unreachableLibvirtIsOneClearError() throws {
        let domains = try Harness.domains(), folders = Harness.vmFolders()
        let result = try Harness.podmanBootc(["run", "--rm", "--connect", "qemu+unix:///system?socket=/nonexistent/libvirt-sock", image, "--", "true"])
        #expect(result.status == 125)
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("cannot connect to libvirt at qemu+unix:///system?socket=/nonexistent/libvirt-sock") == true,
                "stderr: \(result.stderr)")
        try expectNothingLeft(domainsBefore: domains, foldersBefore: folders)
    }

    @Test func sshTimeoutShowsTheConsoleAndCleansUp() throws {
        let tag = "localhost/podman-bootc-e2e-nosshd:latest"
        try Harness.buildImage(tag, containerfile: "FROM \(image)\nRUN systemctl disable ssh.service && rm /usr/sbin/sshd\n")
        let domains = try Harness.domains(), folders = Harness.vmFolders()
        let result = try Harness.podmanBootc(["run", "--rm", "--ssh-timeout", "60s", tag, "--", "true"])
        #expect(result.status == 125)
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("did not answer SSH") == true, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("last lines of the serial console"))
        try expectNothingLeft(domainsBefore: domains, foldersBefore: folders)
        #expect(try Harness.qemuProcesses().filter { $0.contains("nosshd") }.isEmpty)
    }

    @Test func ctrlCRemovesARmVM() throws {
        let domains = try Harness.domains(), folders = Harness.vmFolders()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Harness.binary)
        process.arguments = ["run", "--rm", image, "--", "true"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let seen = Locked("")
        err.fileHandleForReading.readabilityHandler = { handle in
            let chunk = String(decoding: handle.availableData, as: UTF8.self)
            seen.set(seen.get() + chunk)
        }
        try process.run()
        #expect(Harness.waitUntil(timeout: 120) { seen.get().contains("Waiting for SSH") })
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        err.fileHandleForReading.readabilityHandler = nil
        #expect(process.terminationStatus == 130)
        try expectNothingLeft(domainsBefore: domains, foldersBefore: folders)
    }

    @Test func killedRunLeavesNothingTheNextRunDoesNotRecover() throws {
        let domains = try Harness.domains(), folders = Harness.vmFolders()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Harness.binary)
        process.arguments = ["run", "--rm", image, "--", "true"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        #expect(try Harness.waitUntil(timeout: 120) { try Harness.domains().subtracting(domains).count == 1 })
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        // libvirt destroys the auto-destroy domain when our connection drops.
        #expect(try Harness.waitUntil(timeout: 30) { try Harness.domains().subtracting(domains).isEmpty })
        // The next run removes the dead run's folder (it fails fast here on a missing image).
        _ = try Harness.podmanBootc(["run", "--rm", "localhost/podman-bootc-does-not-exist:1", "--", "true"])
        try expectNothingLeft(domainsBefore: domains, foldersBefore: folders)
    }
}
}
