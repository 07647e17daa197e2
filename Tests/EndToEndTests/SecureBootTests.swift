// Secure Boot and a TPM for real: a Debian image with Microsoft-signed shim, Debian-signed GRUB
// and kernel boots with --secure-boot --tpm through libvirt (OVMF with Microsoft's keys,
// swtpm), and its export boots under plain QEMU with the same firmware; an unsigned boot
// loader is refused by the firmware within seconds; an image with no signed chain is refused
// before anything boots.

import Foundation
import Testing

extension EndToEnd {
@Suite struct SecureBootTests {
    static let image = "localhost/podman-bootc-test:secureboot"

    func buildImage() async throws {
        try await Harness.buildRepositoryImage("secureboot", tag: Self.image)
    }

    @Test func signedChainBootsWithSecureBootAndATPM() async throws {
        try await buildImage()
        let script = """
            mountpoint -q /sys/firmware/efi/efivars || mount -t efivarfs efivarfs /sys/firmware/efi/efivars
            echo "SecureBoot=$(od -An -tx1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | awk '{print $NF}')"
            test -c /dev/tpmrm0 && echo tpm=yes
            """
        let result = try await Harness.podmanBootc(["run", "--rm", "--secure-boot", "--tpm", Self.image, "--", script])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("SecureBoot=01"), "the SecureBoot variable says enforced: \(result.stdout)")
        #expect(result.stdout.contains("tpm=yes"), "\(result.stdout)")
    }

    @Test func anUnsignedBootLoaderIsRefusedWithinSeconds() async throws {
        try await BootcInstallTests().buildStandIn()
        // The stand-in's disk (systemd-boot, unsigned) installed first: only the boot is timed.
        let added = try await Harness.podmanBootc(["cache", "add", "--filesystem", "ext4", BootcInstallTests.image])
        try #require(added.status == 0, "\(added.stderr)")
        let domainsBefore = try await Harness.domains()
        let started = ContinuousClock.now
        let result = try await Harness.podmanBootc(["run", "--rm", "--secure-boot", "--filesystem", "ext4", BootcInstallTests.image, "--", "true"])
        let seconds = (ContinuousClock.now - started).components.seconds
        #expect(result.status == 125, "stderr: \(result.stderr)")
        #expect(result.stderr.contains("refused to start the disk's boot loader"), "\(result.stderr)")
        #expect(result.stderr.contains("--- last lines of the serial console ---") && result.stderr.contains("Access Denied"), "\(result.stderr)")
        #expect(seconds < 60, "the refusal took \(seconds) s")
        #expect(try await Harness.domains().subtracting(domainsBefore).isEmpty, "the refused VM is gone")
    }

    @Test func anImageWithoutASignedChainIsRefusedBeforeBooting() async throws {
        let domainsBefore = try await Harness.domains()
        let result = try await Harness.podmanBootc(["run", "--rm", "--secure-boot", "--installer", "direct", Harness.demoImage, "--", "true"])
        #expect(result.status == 125, "stderr: \(result.stderr)")
        #expect(result.errorLines.count == 1 && result.stderr.contains("shim-signed grub-efi-amd64-signed"), "\(result.stderr)")
        #expect(try await Harness.domains().subtracting(domainsBefore).isEmpty)
    }

    /// The exported disk under plain QEMU (no libvirt): OVMF enforcing Secure Boot with
    /// Microsoft's keys starts the chain, and the kernel says Secure Boot is on.
    @Test func exportedDiskBootsUnderPlainQEMUWithSecureBoot() async throws {
        try await buildImage()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-export-sb-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let disk = out.appendingPathComponent("sb.raw")
        let exported = try await Harness.podmanBootc(["export", Self.image, "--format", "raw", "--secure-boot", "-o", disk.path, "--quiet"])
        try #require(exported.status == 0, "stderr: \(exported.stderr)")
        #expect(exported.stdout.contains("signed shim and GRUB"), "\(exported.stdout)")

        let vars = out.appendingPathComponent("vars.fd")
        try FileManager.default.copyItem(atPath: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", toPath: vars.path)
        let serial = out.appendingPathComponent("serial.log")
        let pidFile = out.appendingPathComponent("qemu.pid")
        let qemu = try await Harness.run("/usr/bin/qemu-system-x86_64", [
            "-machine", "q35,smm=on,accel=tcg", "-m", "2048", "-smp", "2",
            "-global", "driver=cfi.pflash01,property=secure,value=on",
            "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.ms.fd",
            "-drive", "if=pflash,format=raw,unit=1,file=\(vars.path)",
            "-drive", "file=\(disk.path),format=raw,if=virtio", "-device", "virtio-rng-pci",
            "-display", "none", "-serial", "file:\(serial.path)", "-daemonize", "-pidfile", pidFile.path])
        try #require(qemu.status == 0, "qemu: \(qemu.stderr)")
        defer {
            if let pid = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(pid, SIGKILL)
            }
        }
        let console = { (try? String(contentsOf: serial, encoding: .utf8)) ?? "" }
        let booted = await Harness.waitUntil(timeout: 300) { console().contains("secureboot: Secure boot enabled") || console().contains("Access Denied") }
        #expect(booted && console().contains("secureboot: Secure boot enabled") && !console().contains("Access Denied"),
                "console tail: \(console().suffix(1500))")
    }
}
}
