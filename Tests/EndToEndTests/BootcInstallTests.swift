// The bootc install path for real: a privileged rootful podman container runs the image's
// `bootc install to-disk --via-loopback` (here a documented test stand-in, since bootc cannot
// be had on these machines) into a loop-backed file, and the disk boots under UEFI.

import Foundation
import Testing

extension EndToEnd {
@Suite struct BootcInstallTests {
    static let image = "localhost/podman-bootc-test:bootc-standin"

    func buildStandIn() async throws {
        try await Harness.buildRepositoryImage("bootc-standin", tag: Self.image)
    }

    @Test func bootcImageWithoutDefaultFilesystemNeedsOne() async throws {
        try await buildStandIn()
        let result = try await Harness.podmanBootc(["run", "--rm", Self.image, "--", "true"])
        #expect(result.status == 125)
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.contains("pass one with --filesystem") == true, "stderr: \(result.stderr)")
        #expect(Harness.cachePartials().isEmpty)
    }

    @Test func installsThroughPrivilegedPodmanAndBootsUnderUEFI() async throws {
        try await buildStandIn()
        // Start from no cached disk for these options, so the install really runs.
        struct Plan: Decodable { var key: String; var reuse: Bool; var installer: String }
        let planned = try await Harness.podmanBootc(["run", "--dry-run", "--format", "json", "--filesystem", "ext4",
                                                     "--karg", "podman_bootc_e2e=1", Self.image])
        #expect(planned.status == 0, "stderr: \(planned.stderr)")
        let key = try JSONDecoder().decode(Plan.self, from: Data(planned.stdout.utf8)).key
        try? FileManager.default.removeItem(at: Harness.stateDir.appendingPathComponent("cache/\(key)"))

        let result = try await Harness.podmanBootc(["run", "--rm", "--filesystem", "ext4", "--karg", "podman_bootc_e2e=1", Self.image, "--",
                                                    "sh", "-c", "test -d /sys/firmware/efi && echo booted-uefi; cat /proc/cmdline; "
                                                    + "if touch /usr/.podman-bootc-probe 2>/dev/null; then echo usr-writable; else echo usr-read-only; fi"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("booted-uefi"))
        #expect(result.stdout.contains("podman_bootc_e2e=1"), "the --karg reached the installed bootloader entry")
        #expect(result.stdout.contains("usr-read-only"), "an installed bootc system mounts /usr read-only: \(result.stdout)")
        #expect(result.stderr.contains("bootc (test stand-in): installation complete"), "bootc's output is streamed")

        // The second run reuses the installed disk.
        let again = try await Harness.podmanBootc(["run", "--dry-run", "--format", "json", "--filesystem", "ext4",
                                                   "--karg", "podman_bootc_e2e=1", Self.image])
        #expect(again.status == 0)
        let decoded = try JSONDecoder().decode(Plan.self, from: Data(again.stdout.utf8))
        #expect(decoded.reuse)
        #expect(decoded.key == key)
        #expect(decoded.installer == "bootc")
    }
}
}

extension EndToEnd.BootcInstallTests {
    /// The containers.bootc=1 label is a claim, not proof: an image carrying it without
    /// /usr/bin/bootc is installed by the direct installer, with a note, instead of failing.
    @Test func labelWithoutBootcFallsBackToTheDirectInstaller() async throws {
        let tag = "localhost/podman-bootc-test:label-only"
        try await Harness.buildImage(tag, containerfile: "FROM \(Harness.demoImage)\nLABEL containers.bootc=1\n")
        let result = try await Harness.podmanBootc(["cache", "add", tag])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("labelled containers.bootc=1 but has no /usr/bin/bootc; installing it with the direct installer"),
                "stderr: \(result.stderr)")
        struct Plan: Decodable { var reuse: Bool; var installer: String }
        let planned = try await Harness.podmanBootc(["run", "--dry-run", "--format", "json", tag])
        let plan = try JSONDecoder().decode(Plan.self, from: Data(planned.stdout.utf8))
        #expect(plan.reuse && plan.installer == "direct", "\(planned.stdout)")
        _ = try await Harness.run("/usr/bin/podman", ["rmi", "-f", tag])
    }
}
