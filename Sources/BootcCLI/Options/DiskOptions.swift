// The options that change an installed disk, shared by `run`, `cache add` and `cache warm`.

import ArgumentParser
import BootcCore
import BootcPipeline

struct DiskOptions: ParsableArguments {
    @Option(help: "Size of the VM's disk (sparse), e.g. 20G, at least 64M and the image's size (default: max(10G, 2 x image size)).",
            transform: ArgumentValue.size(atLeast: .minimumDisk, example: "20G"))
    var diskSize: ByteSize?

    @Option(help: ArgumentHelp("Installer: auto (bootc when the image ships it), bootc, or direct (default: $PODMAN_BOOTC_INSTALLER, else auto; direct never runs the image's own bootc in a privileged container).", valueName: "installer"))
    var installer: InstallerChoice?

    @Option(help: "Root filesystem for bootc install (e.g. xfs, ext4, btrfs).")
    var filesystem: String?

    @Option(help: "Maximum size of the root filesystem for bootc install, e.g. 8G (bootc's --root-size).",
            transform: ArgumentValue.size(atLeast: .minimumDisk, example: "8G"))
    var rootSizeMax: ByteSize?

    @Option(name: .customLong("karg"), help: ArgumentHelp("Extra kernel argument (repeatable).", valueName: "arg"))
    var kernelArguments: [String] = []

    @Option(help: ArgumentHelp("Guest architecture: x86_64 or aarch64 (amd64, arm64); another than the host's runs under emulation. A registry image is pulled for it (default: the image's own).", valueName: "arch"),
            transform: ArgumentValue.architecture)
    var arch: Architecture?

    @Option(help: ArgumentHelp("Run bootc install through this podman system connection (a rootful podman machine); the cache folder must be shared with it.", valueName: "name"))
    var connection: String?

    func validate() throws {
        _ = try InstallerChoice.resolve(installer)
        if let connection, connection.isEmpty || connection.hasPrefix("-") || connection.contains(where: { $0.isWhitespace || $0.isNewline }) {
            throw ValidationError("--connection \(connection.debugDescription) is not a connection name; see `podman system connection list`")
        }
        if let filesystem, filesystem.isEmpty || !filesystem.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            throw ValidationError("--filesystem \(filesystem.debugDescription) is not a filesystem name (e.g. xfs, ext4, btrfs)")
        }
        for karg in kernelArguments {
            if let problem = KernelArgument.problem(with: karg) {
                throw ValidationError("--karg \(karg.debugDescription) is not one kernel argument: \(problem); give each argument without spaces, quotes or control characters (repeat --karg for several)")
            }
        }
    }

    var choices: DiskChoices {
        // validate() has refused a bad $PODMAN_BOOTC_INSTALLER already.
        DiskChoices(diskSize: diskSize, installer: (try? InstallerChoice.resolve(installer)) ?? .auto, filesystem: filesystem, rootSize: rootSizeMax,
                    kernelArguments: kernelArguments, connection: connection, architecture: arch)
    }
}
