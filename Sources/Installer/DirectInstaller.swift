// Builds a bootable raw disk from an image's root filesystem: no privileges beyond reading
// the image, no loop devices, no mounts.

import BootcCore
import Foundation
import Host
import Logging

public enum InstallerError: ToolError {
    case noKernel(image: String)
    /// The disk asked for cannot hold the image (`needed`: the floor, or the image's size).
    case diskTooSmall(requested: ByteSize, needed: ByteSize)
    case invalidKernelArgument(String, problem: String)
    case noBootc(image: String)
    case bootcNeedsImage(path: String)
    case bootcNeedsRootfulPodman(image: String)

    public var description: String {
        switch self {
        case .noKernel(let image):
            return "image \(image) has no kernel (looked for /usr/lib/modules/*/vmlinuz and /boot/vmlinuz-*); "
                + "podman-bootc boots bootable images: install a kernel in the image (e.g. linux-image-amd64, kernel-core)"
        case .diskTooSmall(let requested, let needed):
            return "disk size \(requested) is too small for this image; use --disk-size \(needed) or more, or leave it out (default: max(10G, 2 x image size))"
        case .invalidKernelArgument(let argument, let problem):
            return "kernel argument \(argument.debugDescription) cannot be used: \(problem); give each argument without spaces or control characters"
        case .noBootc(let image):
            return "image \(image) does not ship bootc (/usr/bin/bootc); use --installer direct or auto"
        case .bootcNeedsRootfulPodman(let image):
            return "\(image) ships bootc, and bootc install needs rootful podman (a privileged container), which you do not have as a user. "
                + "Choose one: --connection NAME (a rootful podman machine or service: podman system connection list), "
                + "--installer direct (podman-bootc builds the disk itself, no privileges), or run podman-bootc with sudo"
        case .bootcNeedsImage(let path):
            return "\(path) is a root filesystem folder, which bootc install cannot run from (it runs the image as a container); use --installer direct, or give the image's name"
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .diskTooSmall, .invalidKernelArgument: ExitStatus.usage  // values the user chose
        default: ExitStatus.toolFailure
        }
    }
}

public struct DirectInstaller: Sendable {
    let runner: any ProcessRunner
    let logger: Logger

    public init(runner: any ProcessRunner, logger: Logger) {
        self.runner = runner
        self.logger = logger
    }

    /// Writes `directory/disk.raw` (GPT, ext4 root built from `root`) and copies the kernel
    /// and initramfs next to it for direct kernel boot. The tree's owners and modes are kept
    /// as this process sees them (run inside the user's namespace for rootless storage).
    func build(reference: String, root: URL, layout: DiskLayout, extraKernelArguments: [String],
               into directory: URL) async throws -> (BootArtifacts, kernelVersion: String) {
        guard let kernel = KernelLocator.locate(in: root) else { throw InstallerError.noKernel(image: reference) }
        if kernel.initrd == nil {
            logger.warning("image has no initramfs for kernel \(kernel.version); booting without one")
        }
        let disk = directory.appendingPathComponent("disk.raw")
        guard FileManager.default.createFile(atPath: disk.path, contents: nil),
              truncate(disk.path, off_t(layout.diskSize.bytes)) == 0 else {
            throw CocoaError(.fileWriteOutOfSpace, userInfo: [NSFilePathErrorKey: disk.path])
        }
        try await runner.check(layout.sfdiskArguments(disk: disk.path), stdin: layout.sfdiskScript)
        try await runner.check(layout.mkfsArguments(disk: disk.path, tree: root.path))
        let policy = SELinuxPolicy.find(in: root)
        if let policy {
            let scratch = directory.appendingPathComponent("selinux-scratch")
            defer { try? FileManager.default.removeItem(at: scratch) }
            try await SELinuxLabelling(runner: runner, logger: logger)
                .label(disk: disk, offset: layout.rootOffset, tree: root, policy: policy, image: reference, scratch: scratch)
        }

        let kernelCopy = directory.appendingPathComponent("vmlinuz")
        try FileManager.default.copyItem(at: kernel.kernel, to: kernelCopy)
        var initrdCopy: URL?
        if let initrd = kernel.initrd {
            let copy = directory.appendingPathComponent("initrd.img")
            try FileManager.default.copyItem(at: initrd, to: copy)
            initrdCopy = copy
        }
        var bootloaderCopy: URL?
        if let loader = KernelLocator.systemdBoot(in: root, architecture: layout.architecture) {
            let copy = directory.appendingPathComponent("systemd-boot.efi")
            try FileManager.default.copyItem(at: loader, to: copy)
            bootloaderCopy = copy
        }
        var chainCopies: (shim: URL, grub: URL)?
        if let chain = KernelLocator.signedBootChain(in: root, architecture: layout.architecture) {
            let copies = (directory.appendingPathComponent("shim.efi"), directory.appendingPathComponent("grub.efi"))
            try FileManager.default.copyItem(at: chain.shim, to: copies.0)
            try FileManager.default.copyItem(at: chain.grub, to: copies.1)
            chainCopies = copies
        }
        // Private: libvirt gives them to QEMU's user while a VM uses them.
        for file in [disk, kernelCopy] + [initrdCopy, bootloaderCopy, chainCopies?.shim, chainCopies?.grub].compactMap({ $0 }) {
            chmod(file.path, StateAccess.privateFile)
        }
        let artifacts = BootArtifacts(method: .directKernel, disk: disk.path, kernel: kernelCopy.path, initrd: initrdCopy?.path,
                                      kernelArguments: layout.kernelArguments + BootcKernelArguments.arguments(root: root, architecture: layout.architecture)
                                          + extraKernelArguments,
                                      bootloader: bootloaderCopy?.path, signedShim: chainCopies?.shim.path, signedGrub: chainCopies?.grub.path,
                                      selinux: policy?.mode)
        return (artifacts, kernel.version)
    }
}
