// What a hostile guest or local neighbour may not do, for real: guest root on a -v folder of
// root's VM cannot make a device node or leave a set-ID file on the host (libvirt's virtiofsd
// runs through podman-bootc's confinement), and a libvirt domain that took a kept VM's name
// is never stopped or removed by podman-bootc.

import Foundation
import Testing

extension EndToEnd {
@Suite struct HostileNeighbourTests {
    @Test func guestRootLeavesNoDeviceOrSetIDFileInASharedFolder() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-hostile-v-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = """
            cp /bin/true /mnt/x/suid && chmod 4755 /mnt/x/suid; echo "chmod=$?"
            install -m 2755 /bin/true /mnt/x/sgid; echo "install=$?"
            mknod /mnt/x/disk b 8 0; echo "mknod=$?"
            echo written > /mnt/x/plain && chmod 640 /mnt/x/plain; echo "plain=$?"
            """
        let result = try await Harness.podmanBootc(["run", "--rm", "-v", "\(folder.path):/mnt/x", Harness.demoImage, "--", script])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("chmod=1") && result.stdout.contains("install=1") && result.stdout.contains("mknod=1"), "\(result.stdout)")
        #expect(result.stdout.contains("plain=0"), "ordinary files and modes still work: \(result.stdout)")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            var info = stat()
            try #require(lstat(folder.appendingPathComponent(name).path, &info) == 0)
            #expect(info.st_mode & S_IFMT == S_IFREG, "\(name) is a regular file")
            #expect(info.st_mode & (S_ISUID | S_ISGID) == 0, "\(name) has mode \(String(info.st_mode, radix: 8))")
        }
        var plain = stat()
        #expect(lstat(folder.appendingPathComponent("plain").path, &plain) == 0 && plain.st_mode & 0o777 == 0o640)
    }

    @Test func aDomainThatTookAKeptVMsNameIsLeftAlone() async throws {
        let name = "e2e-taken-\(UUID().uuidString.prefix(4).lowercased())"
        let started = try await Harness.podmanBootc(["run", "-B", "--name", name, Harness.demoImage])
        try #require(started.status == 0, "stderr: \(started.stderr)")
        // The VM's domain goes; another one, not podman-bootc's, takes its name.
        _ = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "destroy", name])
        _ = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "undefine", "--nvram", name])
        let foreign = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).xml")
        try Data("""
            <domain type='qemu'><name>\(name)</name><memory unit='MiB'>64</memory>
            <os><type arch='x86_64'>hvm</type></os></domain>
            """.utf8).write(to: foreign)
        defer { try? FileManager.default.removeItem(at: foreign) }
        let defined = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "define", foreign.path])
        try #require(defined.status == 0, "\(defined.stderr)")

        let removed = try await Harness.podmanBootc(["rm", "-f", name])
        #expect(removed.status != 0)
        #expect(removed.stderr.contains("is not VM \(name)'s"), "\(removed.stderr)")
        let stopped = try await Harness.podmanBootc(["stop", name])
        #expect(stopped.status != 0 && stopped.stderr.contains("leaves it alone"), "\(stopped.stderr)")
        #expect(try await Harness.domains().contains(name), "the other domain is still defined")

        // Once that domain is gone, the VM's record is removed as usual.
        _ = try await Harness.run("/usr/bin/virsh", ["-c", "qemu:///system", "undefine", name])
        let cleaned = try await Harness.podmanBootc(["rm", "-f", name])
        #expect(cleaned.status == 0, "\(cleaned.stderr)")
    }
}
}
