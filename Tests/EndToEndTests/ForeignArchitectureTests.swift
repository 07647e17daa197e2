// A guest of the other architecture, for real: the project's foreign test image (Debian arm64
// on an x86-64 host, built without emulation by scripts/build-foreign-test-image.sh) boots
// under TCG with `--arch`, answers a command, and its second run restores the state the first
// one saved. Mismatches are refused before anything boots.

import Foundation
import Testing

extension EndToEnd {
@Suite struct ForeignArchitectureTests {
    /// The architecture this host does not have, as `--arch` and `uname -m` name it.
    static let foreign: String = {
        #if arch(x86_64)
        "aarch64"
        #else
        "x86_64"
        #endif
    }()
    static let image = "localhost/podman-bootc-test:debian-\(foreign == "aarch64" ? "arm64" : "amd64")"
    static let progress = ["PODMAN_BOOTC_PROGRESS": "always"]

    func buildImage() async throws {
        let script = Harness.repository.appendingPathComponent("scripts/build-foreign-test-image.sh").path
        let built = try await Harness.run("/bin/bash", [script, Self.foreign])
        try #require(built.status == 0, "building \(Self.image): \(built.stderr)")
    }

    @Test func bootsRunsAndRestoresWarm() async throws {
        try await buildImage()
        // The first run boots (or restores a state an earlier run on this machine saved).
        let first = try await Harness.podmanBootc(["run", "--rm", "--arch", Self.foreign, Self.image, "--", "uname", "-m"],
                                                  environment: Self.progress)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        #expect(first.stdout == Self.foreign + "\n", "stdout: \(first.stdout)")
        if first.stderr.contains("Booting VM") {
            #expect(first.stderr.contains("software emulation"), "\(first.stderr)")
            #expect(first.stderr.contains("Saving a warm-start state"), "an emulated guest's first boot saves its state: \(first.stderr)")
        }

        // The second run restores it: no boot.
        let second = try await Harness.podmanBootc(["run", "--rm", "--arch", Self.foreign, Self.image, "--", "uname", "-m"],
                                                   environment: Self.progress)
        #expect(second.status == 0, "stderr: \(second.stderr)")
        #expect(second.stdout == Self.foreign + "\n")
        #expect(second.stderr.contains("Restoring VM") && !second.stderr.contains("Booting VM"), "restored, not booted: \(second.stderr)")

        // The image's own platform is enough (no --arch), and list says which architecture.
        let name = "e2e-arch-\(UUID().uuidString.prefix(4).lowercased())"
        let background = try await Harness.podmanBootc(["run", "-B", "--name", name, Self.image])
        #expect(background.status == 0, "stderr: \(background.stderr)")
        let listed = try await Harness.podmanBootc(["list", "--format", "json"])
        struct Listed: Decodable { var name: String; var architecture: String }
        let entry = try JSONDecoder().decode([Listed].self, from: Data(listed.stdout.utf8)).first { $0.name == name }
        #expect(entry?.architecture == Self.foreign, "\(listed.stdout)")
        let login = try await Harness.podmanBootc(["ssh", name, "--", "uname", "-m"])
        #expect(login.stdout == Self.foreign + "\n", "ssh: \(login.stderr)")
        let removed = try await Harness.podmanBootc(["rm", "-f", name])
        #expect(removed.status == 0, "rm: \(removed.stderr)")
    }

    /// UEFI on the other architecture: `export` makes the direct-installed disk bootable with
    /// the image's own systemd-boot (this host has none for it), and plain QEMU with that
    /// architecture's UEFI firmware boots it: firmware, systemd-boot, kernel, the root found by
    /// its partition GUID, systemd.
    @Test func exportedDiskBootsUnderUEFI() async throws {
        try await buildImage()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-export-\(Self.foreign)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let disk = out.appendingPathComponent("disk.raw")
        let exported = try await Harness.podmanBootc(["export", "--quiet", "--format", "raw", "-o", disk.path, Self.image])
        try #require(exported.status == 0, "stderr: \(exported.stderr)")

        let firmware: (code: String, vars: String, qemu: [String]) = Self.foreign == "aarch64"
            ? ("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd",
               ["/usr/bin/qemu-system-aarch64", "-machine", "virt,gic-version=3", "-cpu", "max,pauth-impdef=on"])
            : ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd", ["/usr/bin/qemu-system-x86_64", "-machine", "q35,accel=tcg"])
        let vars = out.appendingPathComponent("vars.fd")
        try FileManager.default.copyItem(atPath: firmware.vars, toPath: vars.path)
        let serial = out.appendingPathComponent("serial.log")
        let pidFile = out.appendingPathComponent("qemu.pid")
        let qemu = try await Harness.run(firmware.qemu[0], Array(firmware.qemu.dropFirst()) + [
            "-m", "1024", "-smp", "2",
            "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=\(firmware.code)",
            "-drive", "if=pflash,format=raw,unit=1,file=\(vars.path)",
            "-drive", "file=\(disk.path),format=raw,if=virtio",
            "-nic", "none", "-display", "none", "-serial", "file:\(serial.path)", "-daemonize", "-pidfile", pidFile.path])
        try #require(qemu.status == 0, "qemu: \(qemu.stderr)")
        defer {
            if let pid = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(pid, SIGKILL)
            }
        }
        func console() -> String { (try? String(contentsOf: serial, encoding: .utf8)) ?? "" }
        let booted = await Harness.waitUntil(timeout: 300) { console().contains("Welcome to") }
        #expect(booted, "systemd started from the exported disk; console tail: \(console().suffix(2000))")
        #expect(console().contains("Kernel command line:") && console().contains("root=PARTUUID="), "\(console().suffix(2000))")
    }

    @Test func mismatchesAreRefusedBeforeBooting() async throws {
        try await buildImage()
        let domainsBefore = try await Harness.domains()
        // A local image of another architecture than --arch asks for.
        let wrong = try await Harness.podmanBootc(["run", "--rm", "--arch", Self.foreign == "aarch64" ? "x86_64" : "aarch64", Self.image, "--", "true"])
        #expect(wrong.status == 64, "stderr: \(wrong.stderr)")
        #expect(wrong.stderr.contains("is for") && wrong.stderr.contains("--arch"), "\(wrong.stderr)")
        // KVM cannot run another architecture's guest.
        let kvm = try await Harness.podmanBootc(["run", "--rm", "--accel", "kvm", Self.image, "--", "true"])
        #expect(kvm.status == 64, "stderr: \(kvm.stderr)")
        #expect(kvm.stderr.contains("--accel kvm runs only guests of this host's architecture"), "\(kvm.stderr)")
        let unknown = try await Harness.podmanBootc(["run", "--arch", "riscv64", Self.image])
        #expect(unknown.status == 64 && unknown.stderr.contains("x86_64 (amd64) or aarch64 (arm64)"), "\(unknown.stderr)")
        #expect(try await Harness.domains() == domainsBefore, "no domain was left behind")
    }
}
}
