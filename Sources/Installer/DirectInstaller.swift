// Builds a bootable raw disk from an image's root filesystem: no privileges beyond reading
// the image, no loop devices, no mounts.

import BootcCore
import Foundation
import Host
import Logging
import Podman

public enum InstallerError: ToolError {
    case noKernel(image: String)
    case diskTooSmall(requested: ByteSize)

    public var description: String {
        switch self {
        case .noKernel(let image):
            return "image \(image) has no kernel (looked for /usr/lib/modules/*/vmlinuz and /boot/vmlinuz-*); "
                + "podman-bootc boots bootable images: install a kernel in the image (e.g. linux-image-amd64, kernel-core)"
        case .diskTooSmall(let requested):
            return "disk size \(requested) is too small; use at least 64M"
        }
    }
}

/// What to install: an image found in podman storage and the disk options.
public struct InstallRequest: Sendable {
    public var reference: String
    public var image: ImageInspection
    public var architecture: Architecture
    public var diskSize: ByteSize?

    public init(reference: String, image: ImageInspection, architecture: Architecture, diskSize: ByteSize?) {
        self.reference = reference
        self.image = image
        self.architecture = architecture
        self.diskSize = diskSize
    }

    public var effectiveDiskSize: ByteSize {
        diskSize ?? DiskLayout.defaultSize(imageSize: image.size ?? 0)
    }

    public var cacheKey: CacheKeyInputs {
        CacheKeyInputs(imageID: image.id, imageDigest: image.digest, reference: reference, installer: "direct",
                       diskSize: DiskLayout(diskSize: effectiveDiskSize, architecture: architecture).diskSize.bytes,
                       architecture: architecture)
    }
}

public struct DirectInstaller: Sendable {
    let podman: Podman
    let runner: any ProcessRunner
    let cache: DiskCache
    let logger: Logger

    public init(podman: Podman, runner: any ProcessRunner, cache: DiskCache, logger: Logger) {
        self.podman = podman
        self.runner = runner
        self.cache = cache
        self.logger = logger
    }

    /// Returns the cached disk for the request, installing it first when there is none.
    /// `progress` hears one line per stage.
    public func install(_ request: InstallRequest, progress: @Sendable (String) -> Void) async throws -> CacheManifest {
        guard request.effectiveDiskSize >= .mebibytes(64) else { throw InstallerError.diskTooSmall(requested: request.effectiveDiskSize) }
        let inputs = request.cacheKey
        let key = inputs.key
        if let hit = cache.lookup(key) { return hit }

        cache.removeAbandonedPartials()
        let lock = try cache.lock(key)
        defer { withExtendedLifetime(lock) {} }
        // Another process may have finished the same install while we waited for the lock.
        if let hit = cache.lookup(key) { return hit }

        let partial = try cache.makePartial(for: key)
        do {
            let manifest = try await podman.withMountedImage(request.image.id) { root in
                try await build(request, inputs: inputs, key: key, root: root, into: partial, progress: progress)
            }
            try cache.commit(partial: partial, key: key, manifest: manifest)
            guard let installed = cache.lookup(key) else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: cache.entry(for: key).path])
            }
            return installed
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }

    private func build(_ request: InstallRequest, inputs: CacheKeyInputs, key: String, root: URL, into dir: URL,
                       progress: @Sendable (String) -> Void) async throws -> CacheManifest {
        guard let kernel = KernelLocator.locate(in: root) else { throw InstallerError.noKernel(image: request.reference) }
        if kernel.initrd == nil {
            logger.warning("image has no initramfs for kernel \(kernel.version); booting without one")
        }
        let layout = DiskLayout(diskSize: request.effectiveDiskSize, architecture: request.architecture)
        let disk = dir.appendingPathComponent("disk.raw")
        progress("Installing \(request.reference) (kernel \(kernel.version)) into a \(layout.diskSize) disk")

        guard FileManager.default.createFile(atPath: disk.path, contents: nil) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: disk.path])
        }
        guard truncate(disk.path, off_t(layout.diskSize.bytes)) == 0 else {
            throw CocoaError(.fileWriteOutOfSpace, userInfo: [NSFilePathErrorKey: disk.path])
        }
        try await runner.check(layout.sfdiskArguments(disk: disk.path), stdin: layout.sfdiskScript)
        try await runner.check(layout.mkfsArguments(disk: disk.path, tree: root.path))

        let kernelCopy = dir.appendingPathComponent("vmlinuz")
        try FileManager.default.copyItem(at: kernel.kernel, to: kernelCopy)
        var initrdCopy: URL?
        if let initrd = kernel.initrd {
            initrdCopy = dir.appendingPathComponent("initrd.img")
            try FileManager.default.copyItem(at: initrd, to: initrdCopy!)
        }
        for file in [disk, kernelCopy] + (initrdCopy.map { [$0] } ?? []) {
            chmod(file.path, 0o644)
        }
        return CacheManifest(
            key: key, inputs: inputs, kernelVersion: kernel.version,
            artifacts: BootArtifacts(disk: disk.path, kernel: kernelCopy.path, initrd: initrdCopy?.path,
                                     kernelArguments: layout.kernelArguments),
            created: Date())
    }
}
