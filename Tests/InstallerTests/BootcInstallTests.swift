// The bootc install invocation (golden) and how cache keys explain a reinstall.

import BootcCore
import Foundation
import GoldenFiles
@testable import Installer
import Testing

@Suite struct BootcInstallTests {
    @Test func podmanArgvGolden() throws {
        let plain = BootcInstallArguments.podmanRun(image: "quay.io/fedora/fedora-bootc:42", outputDirectory: "/var/lib/podman-bootc/cache/.partial-k-1",
                                                    diskFileName: "disk.raw", options: BootcInstallOptions())
        let full = BootcInstallArguments.podmanRun(image: "5f2c", outputDirectory: "/cache/.partial-k-1", diskFileName: "disk.raw",
                                                   options: BootcInstallOptions(filesystem: "xfs", rootSize: .gibibytes(8),
                                                                                kernelArguments: ["console=ttyS0", "enforcing=0"]))
        try Golden.check(plain.joined(separator: "\n") + "\n---\n" + full.joined(separator: "\n") + "\n", "bootc-install-argv.txt")
    }

    @Test func rootFilesystemDeclaration() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bootc-root-\(UUID().uuidString)")
        let dir = root.appendingPathComponent("usr/lib/bootc/install")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(!BootcInstaller.declaresRootFilesystem(imageRoot: root))
        try "[install.filesystem.root]\ntype = \"xfs\"\n".write(to: dir.appendingPathComponent("00-fedora.toml"), atomically: true, encoding: .utf8)
        #expect(BootcInstaller.declaresRootFilesystem(imageRoot: root))
    }

    /// An image's install config is read as the image sees it and capped: a link onto the
    /// host (a device that never ends, a secret, a file that does declare a filesystem) or a
    /// huge file gives "not declared", at once.
    @Test func rootFilesystemDeclarationNeverLeavesTheImageAndIsCapped() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bootc-hostile-\(UUID().uuidString)")
        let dir = root.appendingPathComponent("usr/lib/bootc/install")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let hostFile = root.deletingLastPathComponent().appendingPathComponent("host-\(UUID().uuidString).toml")
        try "[install.filesystem.root]\ntype = \"xfs\"\n".write(to: hostFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: hostFile) }
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("00-zero.toml").path, withDestinationPath: "/dev/zero")
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("01-shadow.toml").path, withDestinationPath: "/etc/shadow")
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("02-host.toml").path, withDestinationPath: hostFile.path)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("03-up.toml").path,
                                                   withDestinationPath: "../../../../../../../../.." + hostFile.path)
        // A huge (sparse) file that declares it after its first 64 KiB: not read to the end.
        let huge = dir.appendingPathComponent("04-huge.toml")
        _ = FileManager.default.createFile(atPath: huge.path, contents: nil)
        let handle = try FileHandle(forWritingTo: huge)
        try handle.seek(toOffset: 8 << 30)
        try handle.write(contentsOf: Data("[install.filesystem.root]\n".utf8))
        try handle.close()
        let started = ContinuousClock.now
        #expect(!BootcInstaller.declaresRootFilesystem(imageRoot: root))
        #expect(ContinuousClock.now - started < .seconds(2))

        // The folder itself linked onto the host: resolved inside the image, where it is missing.
        let linked = root.appendingPathComponent("usr/lib/bootc/install")
        try FileManager.default.removeItem(at: linked)
        try FileManager.default.createSymbolicLink(atPath: linked.path, withDestinationPath: hostFile.deletingLastPathComponent().path)
        #expect(!BootcInstaller.declaresRootFilesystem(imageRoot: root))

        // A link that stays in the image is followed as bootc would.
        try FileManager.default.removeItem(at: linked)
        try FileManager.default.createDirectory(at: linked, withIntermediateDirectories: false)
        try "[install.filesystem.root]\n".write(to: root.appendingPathComponent("usr/lib/bootc/real.toml"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: linked.appendingPathComponent("10-in-image.toml").path, withDestinationPath: "/usr/lib/bootc/real.toml")
        #expect(BootcInstaller.declaresRootFilesystem(imageRoot: root))
    }

    @Test func differencesExplainAReinstall() {
        let old = CacheKeyInputs(imageID: "a", imageDigest: "sha256:1", reference: "r", installer: .bootc, diskSize: 10 << 30,
                                 architecture: .x86_64, filesystem: "xfs", kernelArguments: [])
        var new = old
        new.imageDigest = "sha256:2"
        new.kernelArguments = ["quiet"]
        #expect(new.differences(from: old) == ["image digest changed (sha256:1 -> sha256:2)", "kernel arguments changed ( -> quiet)"])
        #expect(old.differences(from: old).isEmpty)
    }

    @Test func filesystemAndKernelArgumentsChangeTheKey() {
        let base = CacheKeyInputs(imageID: "a", imageDigest: nil, reference: "r", installer: .bootc, diskSize: 1 << 30, architecture: .x86_64)
        var other = base
        other.filesystem = "ext4"
        #expect(other.key != base.key)
        other = base
        other.kernelArguments = ["a=b"]
        #expect(other.key != base.key)
        other = base
        other.installer = .direct
        #expect(other.key != base.key)
    }
}
