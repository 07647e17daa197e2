// The partition table and filesystem of a direct-installed disk, as pure values.

import BootcCore

/// One GPT partition holding an ext4 root, 1 MiB aligned, built without loop devices:
/// sfdisk writes the table into the file, mkfs.ext4 -d fills the partition at its offset.
public struct DiskLayout: Equatable, Sendable {
    public static let sectorSize: UInt64 = 512
    public static let alignment: UInt64 = 1 << 20
    public static let rootLabel = "root"

    public var diskSize: ByteSize
    public var architecture: Architecture

    public init(diskSize: ByteSize, architecture: Architecture) {
        self.diskSize = diskSize.roundedUp(to: Self.alignment)
        self.architecture = architecture
    }

    /// The root partition starts at 1 MiB and ends 1 MiB before the end (room for GPT's backup).
    public var rootOffset: UInt64 { Self.alignment }
    public var rootSize: UInt64 { diskSize.bytes - 2 * Self.alignment }

    /// Input for `sfdisk DISK`.
    public var sfdiskScript: String {
        """
        label: gpt
        first-lba: \(rootOffset / Self.sectorSize)
        start=\(rootOffset / Self.sectorSize), size=\(rootSize / Self.sectorSize), type=\(architecture.rootPartitionType), name="\(Self.rootLabel)"

        """
    }

    public func sfdiskArguments(disk: String) -> [String] {
        ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", disk]
    }

    /// Builds the ext4 root from `tree` straight into the partition's byte range of `disk`.
    public func mkfsArguments(disk: String, tree: String) -> [String] {
        ["mkfs.ext4", "-q", "-F", "-L", Self.rootLabel, "-d", tree,
         "-E", "offset=\(rootOffset)", disk, "\(rootSize / 1024)k"]
    }

    /// The kernel arguments that find and mount this root.
    public var kernelArguments: [String] {
        ["root=/dev/vda1", "rw", "console=\(architecture.serialConsole)"]
    }

    /// At least 10 GiB and twice the image: room for the user's work (the file is sparse).
    public static func defaultSize(imageSize: UInt64) -> ByteSize {
        max(.gibibytes(10), ByteSize(bytes: imageSize * 2))
    }
}
