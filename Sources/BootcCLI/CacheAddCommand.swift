// `podman-bootc cache add`: install an image's disk ahead of time (or find it cached).

import ArgumentParser
import BootcCore
import Foundation
import Installer
import Podman

struct CacheAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Install an image into the disk cache without booting it; prints the cache key.",
        discussion: """
            A later `run` with the same options reuses the disk. Useful to warm CI caches.
            IMAGE may also be a folder with a Containerfile or a quadlet .build unit: it is
            built first when its invariance hash says so, as `run` does.

            Examples:
              podman-bootc cache add localhost/podman-bootc-test:debian
              podman-bootc cache add ./images/debian
              podman-bootc cache add --installer bootc --filesystem xfs quay.io/fedora/fedora-bootc:42
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var disk: DiskOptions
    @Flag(name: .shortAndLong, help: "Print no progress, only errors.") var quiet = false
    @Argument(help: "The image: a reference in rootful podman storage, a folder with a Containerfile, or a .build unit.") var image: String

    func run() async throws {
        let context = CommandContext.live(options: global, quiet: quiet)
        InterruptCleanup.shared.install()
        guard geteuid() == 0 else { throw VMError.requiresRoot }
        try context.locations.prepare()
        let launcher = VMLauncher(context: context)
        let reference = try await ImageBuilder(context: context).prepare(ImageSource.resolve(image))
        let found = try await context.findImage(reference)
        let choices = disk.choices
        let manifest = try await launcher.install(choices.request(reference: reference, image: found), choices: choices)
        print(manifest.key)
    }
}

/// The options that change an installed disk, shared by `run` and `cache add`.
struct DiskOptions: ParsableArguments {
    @Option(help: "Size of the VM's disk (sparse), e.g. 20G (default: max(10G, 2 x image size)).")
    var diskSize: String?

    @Option(help: ArgumentHelp("Installer: auto (bootc when the image ships it), bootc, or direct.", valueName: "installer"))
    var installer: InstallerChoice = .auto

    @Option(help: "Root filesystem for bootc install (e.g. xfs, ext4, btrfs).")
    var filesystem: String?

    @Option(help: "Maximum size of the root filesystem for bootc install, e.g. 8G (bootc's --root-size).")
    var rootSizeMax: String?

    @Option(name: .customLong("karg"), help: ArgumentHelp("Extra kernel argument (repeatable).", valueName: "arg"))
    var kernelArguments: [String] = []

    @Option(help: ArgumentHelp("Run bootc install through this podman system connection (a rootful podman machine); the cache folder must be shared with it.", valueName: "name"))
    var connection: String?

    func validate() throws {
        if let connection, connection.isEmpty || connection.hasPrefix("-") || connection.contains(where: { $0.isWhitespace || $0.isNewline }) {
            throw ValidationError("--connection \(connection.debugDescription) is not a connection name; see `podman system connection list`")
        }
        if let diskSize, ByteSize(parsing: diskSize) == nil { throw ValidationError("--disk-size \(diskSize.debugDescription) is not a size (e.g. 20G)") }
        if let rootSizeMax, ByteSize(parsing: rootSizeMax) == nil { throw ValidationError("--root-size-max \(rootSizeMax.debugDescription) is not a size (e.g. 8G)") }
        if let filesystem, filesystem.isEmpty || !filesystem.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            throw ValidationError("--filesystem \(filesystem.debugDescription) is not a filesystem name (e.g. xfs, ext4, btrfs)")
        }
        for karg in kernelArguments where karg.isEmpty || karg.contains(where: { $0.isWhitespace || $0.isNewline }) {
            throw ValidationError("--karg \(karg.debugDescription) must be one kernel argument without spaces (repeat --karg for several)")
        }
    }

    var choices: DiskChoices {
        DiskChoices(diskSize: diskSize.flatMap(ByteSize.init(parsing:)), installer: installer,
                    bootc: BootcInstallOptions(filesystem: filesystem, rootSize: rootSizeMax.flatMap(ByteSize.init(parsing:)),
                                               kernelArguments: kernelArguments),
                    connection: connection)
    }
}

/// The disk options as a value, once parsed and validated.
struct DiskChoices: Sendable {
    var diskSize: ByteSize?
    var installer: InstallerChoice
    var bootc: BootcInstallOptions
    /// Not part of the cache key: where bootc runs does not change the disk it writes.
    var connection: String?

    func request(reference: String, image: ImageInspection) -> InstallRequest {
        let architecture = image.architecture.flatMap(Architecture.init(anyName:)) ?? .host
        return InstallRequest(reference: reference, image: image, architecture: architecture,
                              diskSize: diskSize, installer: installer, bootc: bootc)
    }
}
