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
