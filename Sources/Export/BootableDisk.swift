// A cached disk made bootable where it goes. bootc's disks carry their own bootloader and are
// copied as they are. The direct installer's disks boot by direct kernel boot (QEMU is given
// the kernel), so they get an EFI system partition after the root partition, holding
// systemd-boot, the kernel, the initramfs and the kernel arguments: any UEFI firmware (OVMF,
// KubeVirt's `efi` bootloader, a cloud's UEFI instance) then boots them unchanged.

import BootcCore
import Foundation
import Host

public enum ExportError: ToolError, Equatable {
    case noBootloader(searched: [String], architecture: Architecture)
    case unsafeKernelArgument(String)
    case unreadablePartitionTable(String)
    case outputExists(String)
    case outputFolderMissing(String)
    case noSignedBootChain(architecture: Architecture)

    public var exitCode: Int32 {
        switch self {
        case .outputExists, .outputFolderMissing: ExitStatus.usage
        default: ExitStatus.toolFailure
        }
    }

    public var description: String {
        switch self {
        case .noBootloader(let searched, let architecture):
            // The guest's architecture decides which binary; on another host it is a foreign package.
            let debian = architecture == .host ? "systemd-boot-efi" : "systemd-boot-efi:\(architecture.ociName) (after dpkg --add-architecture \(architecture.ociName))"
            return "export needs systemd-boot's EFI binary for \(architecture.rawValue) to make a direct-installed disk bootable, and none was found "
                + "(looked for \(searched.joined(separator: ", "))); install it: apt-get install \(debian) "
                + "(Debian/Ubuntu) or dnf install systemd-boot-unsigned (Fedora), or export with --installer bootc"
        case .unsafeKernelArgument(let argument):
            return "the kernel argument \(argument.debugDescription) holds a line break or control character and cannot go into a boot loader entry"
        case .unreadablePartitionTable(let detail):
            return "the cached disk's partition table could not be read (\(detail)); remove the entry with `podman-bootc cache rm` and export again"
        case .outputExists(let path):
            return "\(path) exists; remove it or give another path with -o (export never overwrites)"
        case .outputFolderMissing(let path):
            return "the folder of \(path) does not exist; create it first or give another path with -o"
        case .noSignedBootChain(let architecture):
            return "Secure Boot needs the image's own signed boot loaders, and it ships none for \(architecture.rawValue) "
                + "(looked for \((architecture.signedShimPaths + architecture.signedGrubPaths).joined(separator: ", "))): "
                + "install them in the image (Debian/Ubuntu: shim-signed grub-efi-amd64-signed; Fedora family: shim-x64 grub2-efi-x64), "
                + "or boot without --secure-boot"
        }
    }
}

/// What `sfdisk --json` says about a disk, reduced to what the export needs.
struct PartitionTable: Decodable, Equatable {
    struct Partition: Decodable, Equatable {
        var start: UInt64
        var size: UInt64
        var type: String
        var uuid: String?
        var name: String?
    }
    var partitions: [Partition]
    var sectorsize: UInt64?

    private struct Wrapper: Decodable { var partitiontable: PartitionTable }

    static func parse(_ json: String) throws -> PartitionTable {
        do {
            return try JSONDecoder().decode(Wrapper.self, from: Data(json.utf8)).partitiontable
        } catch {
            throw ExportError.unreadablePartitionTable("sfdisk --json: \(error)")
        }
    }
}

/// The EFI system partition added behind a direct-installed disk's partitions.
public struct SystemPartitionPlan: Equatable, Sendable {
    public static let espType = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    static let alignment: UInt64 = 1 << 20
    static let sector: UInt64 = 512

    /// Where the ESP starts and how long it is, in bytes.
    public var offset: UInt64
    public var size: UInt64
    /// The disk's new length: the ESP plus 1 MiB for GPT's backup header.
    public var diskSize: UInt64
    /// Input for `sfdisk`: the existing partitions unchanged, then the ESP.
    public var sfdiskScript: String

    /// Plans an ESP large enough for `payload` bytes (kernel, initramfs, boot loader) after
    /// the last partition of `table`.
    static func plan(after table: PartitionTable, payload: UInt64) -> SystemPartitionPlan {
        let sector = table.sectorsize ?? Self.sector
        let end = table.partitions.map { ($0.start + $0.size) * sector }.max() ?? alignment
        let offset = roundUp(end, to: alignment)
        // FAT's own tables and some room for a second kernel; never below 64 MiB, which FAT32
        // tools and some firmware expect of an ESP.
        let size = max(64 << 20, roundUp(payload + payload / 4 + (16 << 20), to: alignment))
        var lines = ["label: gpt", "first-lba: \(alignment / sector)"]
        for partition in table.partitions {
            var line = "start=\(partition.start), size=\(partition.size), type=\(partition.type)"
            if let uuid = partition.uuid { line += ", uuid=\(uuid)" }
            if let name = partition.name, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
                line += ", name=\"\(name)\""
            }
            lines.append(line)
        }
        lines.append("start=\(offset / sector), size=\(size / sector), type=\(espType), name=\"ESP\"")
        return SystemPartitionPlan(offset: offset, size: size, diskSize: offset + size + alignment,
                                   sfdiskScript: lines.joined(separator: "\n") + "\n")
    }

    static func roundUp(_ value: UInt64, to alignment: UInt64) -> UInt64 {
        (value + alignment - 1) / alignment * alignment
    }
}

/// systemd-boot's files on the ESP: one entry, booted at once.
public struct BootLoaderEntry: Equatable, Sendable {
    public var title: String
    public var hasInitrd: Bool
    public var kernelArguments: [String]

    public var loaderConf: String { "default podman-bootc.conf\ntimeout 0\n" }

    public func entryConf() throws -> String {
        for argument in kernelArguments where argument.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw ExportError.unsafeKernelArgument(argument)
        }
        let title = String(title.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.map(Character.init))
        var text = "title \(title)\nlinux /vmlinuz\n"
        if hasInitrd { text += "initrd /initrd.img\n" }
        text += "options \(kernelArguments.joined(separator: " "))\n"
        return text
    }

    /// The direct installer's root is named by device (`root=/dev/vda1`), which holds for our
    /// own domains only; elsewhere the disk may be `sda` or `vdb`, so name the partition.
    public static func portable(_ arguments: [String], rootPartitionUUID: String?) -> [String] {
        guard let uuid = rootPartitionUUID else { return arguments }
        return arguments.map { $0.hasPrefix("root=/dev/") ? "root=PARTUUID=\(uuid.lowercased())" : $0 }
    }
}

extension Architecture {
    /// The removable-media path UEFI firmware boots without NVRAM.
    var removableBootPath: String { self == .x86_64 ? "EFI/BOOT/BOOTX64.EFI" : "EFI/BOOT/BOOTAA64.EFI" }
}

/// GRUB's configuration for the signed chain (shim loads GRUB, GRUB the signed kernel): read
/// from beside GRUB's binary (Debian's signed GRUB falls back to `$cmdpath/grub.cfg`).
public struct GrubConfiguration: Equatable, Sendable {
    public var hasInitrd: Bool
    public var kernelArguments: [String]
    /// The ESP's FAT volume ID (8 hex digits): GRUB finds its files there, not on another
    /// disk's ESP.
    public var volumeID: String

    /// Every argument single-quoted (literal in GRUB's script language); one holding a quote or
    /// a control character is refused.
    public func text() throws -> String {
        for argument in kernelArguments where argument.contains("'") || argument.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw ExportError.unsafeKernelArgument(argument)
        }
        let uuid = volumeID.uppercased().prefix(4) + "-" + volumeID.uppercased().suffix(4)
        var text = "set timeout=0\nsearch --no-floppy --fs-uuid --set=root \(uuid)\n"
        text += "linux /vmlinuz " + kernelArguments.map { "'\($0)'" }.joined(separator: " ") + "\n"
        if hasInitrd { text += "initrd /initrd.img\n" }
        return text + "boot\n"
    }
}

/// Writes a bootable raw disk from a cache entry's artifacts.
public struct BootableDiskWriter: Sendable {
    let runner: any ProcessRunner

    public init(runner: any ProcessRunner) { self.runner = runner }

    /// The raw disk at `destination` (which must not exist), bootable by UEFI firmware; with
    /// `secureBoot`, through the image's signed shim and GRUB (firmware that enforces Secure
    /// Boot with Microsoft's keys starts it), else systemd-boot.
    public func writeRaw(from artifacts: BootArtifacts, architecture: Architecture, title: String,
                         to destination: URL, scratch: URL, secureBoot: Bool = false) async throws {
        guard artifacts.method == .directKernel, let kernel = artifacts.kernel else {
            try await runner.check(["cp", "--sparse=always", "--reflink=auto", artifacts.disk, destination.path])
            chmod(destination.path, StateAccess.privateFile)
            return
        }
        let loaders: [String]
        if secureBoot {
            guard let shim = artifacts.signedShim, let grub = artifacts.signedGrub else { throw ExportError.noSignedBootChain(architecture: architecture) }
            loaders = [shim, grub]
        } else {
            loaders = [try Self.findBootloader(architecture, image: artifacts.bootloader)]
        }
        try await runner.check(["cp", "--sparse=always", "--reflink=auto", artifacts.disk, destination.path])
        chmod(destination.path, StateAccess.privateFile)
        let table = try PartitionTable.parse(try await runner.check(["sfdisk", "--json", destination.path]))
        let payload = try ([kernel, artifacts.initrd] + loaders).compactMap { $0 }
            .reduce(UInt64(0)) { $0 + (try FileManager.default.attributesOfItem(atPath: $1)[.size] as? UInt64 ?? 0) }
        let plan = SystemPartitionPlan.plan(after: table, payload: payload)
        let root = table.partitions.first { $0.type.uppercased() == architecture.rootPartitionType } ?? table.partitions.first
        let arguments = BootLoaderEntry.portable(artifacts.kernelArguments, rootPartitionUUID: root?.uuid)

        let esp = scratch.appendingPathComponent("esp.img")
        let volumeID = String(format: "%08X", UInt32.random(in: 1...UInt32.max))
        let files: [(String, String)]
        if secureBoot {
            let config = scratch.appendingPathComponent("grub.cfg")
            try Data(try GrubConfiguration(hasInitrd: artifacts.initrd != nil, kernelArguments: arguments, volumeID: volumeID).text().utf8)
                .write(to: config)
            // Debian's signed GRUB reads grub.cfg beside itself; the Fedora family's from its
            // vendor folder (its built-in prefix).
            files = [(loaders[0], "::/\(architecture.removableBootPath)"), (loaders[1], "::/EFI/BOOT/grubx64.efi"),
                     (config.path, "::/EFI/BOOT/grub.cfg")]
                + Self.vendorFolders.map { (config.path, "::/EFI/\($0)/grub.cfg") }
        } else {
            let entry = BootLoaderEntry(title: title, hasInitrd: artifacts.initrd != nil, kernelArguments: arguments)
            files = try writeSystemdBootFiles(entry, loader: loaders[0], architecture: architecture, scratch: scratch)
        }
        try await makeSystemPartition(esp, size: plan.size, volumeID: volumeID, files: files, kernel: kernel, initrd: artifacts.initrd)
        guard truncate(destination.path, off_t(plan.diskSize)) == 0 else {
            throw CocoaError(.fileWriteOutOfSpace, userInfo: [NSFilePathErrorKey: destination.path])
        }
        try await runner.check(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", destination.path], stdin: plan.sfdiskScript)
        try Self.copy(esp, into: destination, at: plan.offset)
    }

    /// Where the Fedora family's signed GRUB looks for grub.cfg.
    static let vendorFolders = ["fedora", "centos", "redhat"]

    /// The image's own systemd-boot (copied out at install), else this host's.
    static func findBootloader(_ architecture: Architecture, image: String?) throws -> String {
        let candidates = (image.map { [$0] } ?? []) + architecture.systemdBootPaths
        guard let found = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0) }) else {
            throw ExportError.noBootloader(searched: candidates, architecture: architecture)
        }
        return found
    }

    /// systemd-boot and its entry: (host file, ESP path) pairs.
    private func writeSystemdBootFiles(_ entry: BootLoaderEntry, loader: String, architecture: Architecture,
                                       scratch: URL) throws -> [(String, String)] {
        let loaderConf = scratch.appendingPathComponent("loader.conf")
        let entryConf = scratch.appendingPathComponent("podman-bootc.conf")
        try Data(entry.loaderConf.utf8).write(to: loaderConf)
        try Data(try entry.entryConf().utf8).write(to: entryConf)
        return [(loader, "::/\(architecture.removableBootPath)"), (loaderConf.path, "::/loader/loader.conf"),
                (entryConf.path, "::/loader/entries/podman-bootc.conf")]
    }

    /// A FAT ESP image filled with mtools: no loop device, no mount, works rootless.
    private func makeSystemPartition(_ image: URL, size: UInt64, volumeID: String, files: [(String, String)], kernel: String,
                                     initrd: String?) async throws {
        try await runner.check(["mkfs.vfat", "-C", "-F", "32", "-n", "ESP", "-i", volumeID, image.path, String(size / 1024)])
        let target = image.path
        let folders = Set(files.map { URL(fileURLWithPath: String($0.1.dropFirst(2))).deletingLastPathComponent().path })
            .subtracting(["/", "/EFI", "/EFI/BOOT", "/loader", "/loader/entries"]).sorted().map { "::" + $0 }
        try await runner.check(["mmd", "-i", target, "::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries"] + folders)
        var copies = files + [(kernel, "::/vmlinuz")]
        if let initrd { copies.append((initrd, "::/initrd.img")) }
        for (source, destination) in copies {
            try await runner.check(["mcopy", "-i", target, source, destination])
        }
    }

    /// Copies `source` into `disk` at byte `offset`, in place.
    static func copy(_ source: URL, into disk: URL, at offset: UInt64) throws {
        let input = try FileHandle(forReadingFrom: source)
        defer { try? input.close() }
        let output = try FileHandle(forWritingTo: disk)
        defer { try? output.close() }
        try output.seek(toOffset: offset)
        while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
            try output.write(contentsOf: chunk)
        }
        try output.synchronize()
    }
}
