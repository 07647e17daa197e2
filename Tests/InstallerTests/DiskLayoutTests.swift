// The disk layout as text (golden) and as real bytes written by sfdisk and mkfs.ext4.

import BootcCore
import Foundation
import GoldenFiles
import Host
@testable import Installer
import Logging
import Podman
import Testing

@Suite struct DiskLayoutTests {
    @Test func goldenX86() throws {
        let layout = DiskLayout(diskSize: .gibibytes(10), architecture: .x86_64)
        let text = layout.sfdiskScript + "---\n"
            + layout.sfdiskArguments(disk: "/cache/k/disk.raw").joined(separator: " ") + "\n"
            + layout.mkfsArguments(disk: "/cache/k/disk.raw", tree: "/var/lib/containers/storage/overlay/x/merged").joined(separator: " ") + "\n"
            + layout.kernelArguments.joined(separator: " ") + "\n"
        try Golden.check(text, "disk-layout-x86_64.txt")
    }

    @Test func aarch64UsesItsRootTypeAndConsole() {
        let layout = DiskLayout(diskSize: .gibibytes(10), architecture: .aarch64)
        #expect(layout.sfdiskScript.contains("B921B045-1DF0-41C3-AF44-4C6F280D3FAE"))
        #expect(layout.kernelArguments.contains("console=ttyAMA0"))
    }

    @Test func sizesAreAlignedAndDefaultsGrowWithTheImage() {
        #expect(DiskLayout(diskSize: ByteSize(bytes: 3 << 20 + 1), architecture: .x86_64).diskSize == .mebibytes(4))
        #expect(DiskLayout.defaultSize(imageSize: 700 << 20) == .gibibytes(10))
        #expect(DiskLayout.defaultSize(imageSize: 8 << 30) == .gibibytes(16))
    }

    /// Real sfdisk and mkfs.ext4 on a real file: the partition table sfdisk reads back matches
    /// the layout, and the filesystem at the offset holds the tree's files.
    @Test func writesARealDisk() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("disk-layout-\(UUID().uuidString)")
        let tree = dir.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("etc"), withIntermediateDirectories: true)
        try Data("ID=test\n".utf8).write(to: tree.appendingPathComponent("etc/os-release"))
        defer { try? FileManager.default.removeItem(at: dir) }

        let layout = DiskLayout(diskSize: .mebibytes(64), architecture: .x86_64)
        let disk = dir.appendingPathComponent("disk.raw").path
        #expect(FileManager.default.createFile(atPath: disk, contents: nil))
        #expect(truncate(disk, off_t(layout.diskSize.bytes)) == 0)
        let runner = SubprocessRunner(logger: Logger(label: "test"))
        try await runner.check(layout.sfdiskArguments(disk: disk), stdin: layout.sfdiskScript)
        try await runner.check(layout.mkfsArguments(disk: disk, tree: tree.path))

        let table = try await runner.check(["sfdisk", "--json", disk])
        struct Dump: Decodable { struct Table: Decodable { struct Part: Decodable { var start: UInt64; var size: UInt64; var type: String; var name: String? }; var label: String; var partitions: [Part] }; var partitiontable: Table }
        let dump = try JSONDecoder().decode(Dump.self, from: Data(table.utf8))
        #expect(dump.partitiontable.label == "gpt")
        #expect(dump.partitiontable.partitions.count == 1)
        #expect(dump.partitiontable.partitions[0].start * 512 == layout.rootOffset)
        #expect(dump.partitiontable.partitions[0].size * 512 == layout.rootSize)
        #expect(dump.partitiontable.partitions[0].name == "root")

        let catted = try await runner.check(["debugfs", "-R", "cat /etc/os-release", "\(disk)?offset=\(layout.rootOffset)"])
        #expect(catted == "ID=test\n")
        let label = try await runner.check(["dumpe2fs", "-h", "\(disk)?offset=\(layout.rootOffset)"])
        #expect(label.contains("Filesystem volume name:   root"))
    }

    /// A disk the image cannot fit on is refused with the size to ask for, before any plan
    /// or install: below the floor, or below the image's own size (rounded up to a MiB).
    @Test(arguments: [(UInt64(0), ByteSize?.some(ByteSize(bytes: 0)), "64M"), (0, .mebibytes(63), "64M"), (0, .mebibytes(64), nil),
                      ((3 << 30) + 5, ByteSize(bytes: 0), "3073M"), ((3 << 30) + 5, .gibibytes(2), "3073M"), ((3 << 30) + 5, nil, nil),
                      ((3 << 30) + 5, .gibibytes(4), nil)] as [(UInt64, ByteSize?, String?)])
    func aDiskTooSmallForTheImageIsRefused(imageSize: UInt64, size: ByteSize?, needed: String?) {
        let image = ImageInspection(id: "abc", digest: nil, repoTags: [], size: imageSize)
        let request = InstallRequest(reference: "x", image: image, architecture: .x86_64, diskSize: size)
        do {
            try request.validate()
            #expect(needed == nil, "\(String(describing: size)) was accepted")
        } catch {
            #expect(error.exitCode == 64)
            #expect(needed.map { "\(error)".contains("use --disk-size \($0) or more") } == true, "\(error)")
        }
    }

    @Test func aKernelArgumentThatIsNotOneIsRefusedBeforeInstalling() {
        let image = ImageInspection(id: "abc", digest: nil, repoTags: [], size: 1 << 20)
        let request = InstallRequest(reference: "x", image: image, architecture: .x86_64, diskSize: nil,
                                     bootc: BootcInstallOptions(kernelArguments: ["quiet", "a\nb"]))
        #expect(throws: InstallerError.self) { try request.validate() }
    }
}
