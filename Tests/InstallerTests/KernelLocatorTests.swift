// Finding kernels in real directory trees laid out like bootc and Debian images.

import Foundation
@testable import Installer
import Testing

@Suite struct KernelLocatorTests {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-locator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func touch(_ path: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(path.utf8).write(to: url)
    }

    @Test func bootcLayoutWins() throws {
        try touch("usr/lib/modules/6.12.0-1.fc42.x86_64/vmlinuz")
        try touch("usr/lib/modules/6.12.0-1.fc42.x86_64/initramfs.img")
        try touch("boot/vmlinuz-5.0.0")
        let kernel = try #require(KernelLocator.locate(in: root))
        #expect(kernel.version == "6.12.0-1.fc42.x86_64")
        #expect(kernel.kernel.lastPathComponent == "vmlinuz")
        #expect(kernel.initrd?.lastPathComponent == "initramfs.img")
    }

    @Test func debianLayoutWithNewestVersion() throws {
        try FileManager.default.createDirectory(at: root.appendingPathComponent("usr/lib/modules/6.1.0-9-amd64"), withIntermediateDirectories: true)
        for version in ["6.1.0-9-amd64", "6.1.0-10-amd64"] {
            try touch("boot/vmlinuz-\(version)")
            try touch("boot/initrd.img-\(version)")
        }
        let kernel = try #require(KernelLocator.locate(in: root))
        #expect(kernel.version == "6.1.0-10-amd64")
        #expect(kernel.initrd?.lastPathComponent == "initrd.img-6.1.0-10-amd64")
    }

    @Test func fedoraInitramfsName() throws {
        try touch("boot/vmlinuz-6.8.5-301.fc40.x86_64")
        try touch("boot/initramfs-6.8.5-301.fc40.x86_64.img")
        #expect(KernelLocator.locate(in: root)?.initrd?.lastPathComponent == "initramfs-6.8.5-301.fc40.x86_64.img")
    }

    @Test func absoluteSymlinksResolveInsideTheImage() throws {
        try touch("boot/vmlinuz-6.1.0-9-amd64")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("usr/lib/modules/6.1.0-9-amd64"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("usr/lib/modules/6.1.0-9-amd64/vmlinuz").path,
                                                   withDestinationPath: "/boot/vmlinuz-6.1.0-9-amd64")
        let kernel = try #require(KernelLocator.locate(in: root))
        #expect(kernel.kernel.path == root.appendingPathComponent("boot/vmlinuz-6.1.0-9-amd64").path)
    }

    @Test func noKernel() throws {
        try touch("etc/os-release")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("usr/lib/modules/6.1.0"), withIntermediateDirectories: true)
        #expect(KernelLocator.locate(in: root) == nil)
    }
}

/// Links an image plants to reach the host's files: each is resolved inside the image or refused.
@Suite struct KernelLocatorHostileLinkTests {
    let root: URL
    let outside: URL

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kernel-links-\(UUID().uuidString)")
        root = base.appendingPathComponent("image")
        outside = base.appendingPathComponent("host")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("boot"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: outside.appendingPathComponent("boot"), withIntermediateDirectories: true)
        try Data("host secret".utf8).write(to: outside.appendingPathComponent("boot/vmlinuz-9.9.9"))
    }

    func link(_ path: String, to target: String) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    @Test func dotDotCannotClimbOutOfTheImage() throws {
        try link("boot/vmlinuz-9.9.9", to: "../../../../../../../..\(outside.path)/boot/vmlinuz-9.9.9")
        #expect(KernelLocator.locate(in: root) == nil)
    }

    @Test func aLinkedFolderOnTheWayStaysInTheImage() throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent("boot"))
        try link("boot", to: outside.appendingPathComponent("boot").path)
        #expect(KernelLocator.locate(in: root) == nil, "the host's folder behind an absolute link is not the image's")
        // The same link inside the image: found there.
        try Data("image kernel".utf8).write(to: try makeFile(outside.path + "/boot/vmlinuz-1.0.0"))
        let kernel = try #require(KernelLocator.locate(in: root))
        #expect(kernel.kernel.path == root.path + outside.path + "/boot/vmlinuz-1.0.0")
    }

    @Test func linkLoopsEndInNothing() throws {
        try link("boot/vmlinuz-1.0", to: "vmlinuz-2.0")
        try link("boot/vmlinuz-2.0", to: "/boot/vmlinuz-1.0")
        #expect(KernelLocator.locate(in: root) == nil)
    }

    /// A file at `path` inside the image (its folders made).
    func makeFile(_ path: String) throws -> URL {
        let url = root.appendingPathComponent(String(path.dropFirst()))
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        return url
    }
}
