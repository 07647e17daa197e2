// Turns an image into a cached, bootable disk: picks the installer, serializes installs of
// one key, and publishes the entry only when it is complete.

import BootcCore
import Foundation
import Host
import Logging
import Podman

/// What to install: an image found in podman storage and every option that changes the disk.
public struct InstallRequest: Sendable {
    public var reference: String
    public var image: ImageInspection
    public var architecture: Architecture
    public var diskSize: ByteSize?
    public var installer: InstallerChoice
    public var bootc: BootcInstallOptions
    /// The image's files as a folder instead of podman storage (direct installer only).
    public var rootFilesystem: URL?

    public init(reference: String, image: ImageInspection, architecture: Architecture, diskSize: ByteSize?,
                installer: InstallerChoice = .auto, bootc: BootcInstallOptions = BootcInstallOptions()) {
        self.reference = reference
        self.image = image
        self.architecture = architecture
        self.diskSize = diskSize
        self.installer = installer
        self.bootc = bootc
    }

    public var effectiveDiskSize: ByteSize {
        DiskLayout(diskSize: diskSize ?? DiskLayout.defaultSize(imageSize: image.size ?? 0), architecture: architecture).diskSize
    }

    /// The smallest disk the image can fit on: never below the floor, nor below the image's
    /// own size (its files alone need that much; bootc's partitions need more).
    public var smallestDisk: ByteSize {
        max(.minimumDisk, ByteSize(bytes: image.size ?? 0).roundedUp(to: DiskLayout.alignment))
    }

    /// Refuses, before anything is planned or installed, a disk the image cannot fit on and
    /// a kernel argument that is not one (whoever asked: the CLI checks them too).
    public func validate() throws(InstallerError) {
        guard effectiveDiskSize >= smallestDisk else { throw .diskTooSmall(requested: effectiveDiskSize, needed: smallestDisk) }
        for argument in bootc.kernelArguments {
            if let problem = KernelArgument.problem(with: argument) { throw .invalidKernelArgument(argument, problem: problem) }
        }
    }

    /// The cache key's inputs once `installer` is resolved to bootc or direct.
    public func cacheKey(installer resolved: InstallerChoice) -> CacheKeyInputs {
        CacheKeyInputs(imageID: image.id, imageDigest: image.digest, reference: reference, installer: resolved,
                       diskSize: effectiveDiskSize.bytes, architecture: architecture,
                       filesystem: resolved == .bootc ? bootc.filesystem : nil,
                       rootSize: resolved == .bootc ? bootc.rootSize?.bytes : nil,
                       kernelArguments: bootc.kernelArguments)
    }
}

/// Whether a run would reuse a cached disk, and why (for `run --dry-run`).
public struct CachePlan: Codable, Sendable, Equatable {
    public var key: String
    public var installer: InstallerChoice
    public var reuse: Bool
    public var reason: String
    public var disk: String?

    public init(key: String, installer: InstallerChoice, reuse: Bool, reason: String, disk: String?) {
        self.key = key
        self.installer = installer
        self.reuse = reuse
        self.reason = reason
        self.disk = disk
    }
}

public struct DiskInstaller: Sendable {
    /// Local storage: where the image is found.
    let podman: Podman
    /// Where `bootc install` runs: local podman, or a connection (the image is copied there).
    let bootcPodman: Podman
    /// Where the image's files are read (mounted here, or inside the user's namespace).
    let trees: any ImageTrees
    /// Whether local podman may run bootc's privileged container (root's storage).
    let rootful: Bool
    let runner: any ProcessRunner
    let cache: DiskCache
    let logger: Logger
    /// Lines the user must see (a choice made for them), even when progress is off.
    let notice: @Sendable (String) -> Void

    public init(podman: Podman, bootcPodman: Podman? = nil, trees: any ImageTrees, rootful: Bool = geteuid() == 0,
                runner: any ProcessRunner, cache: DiskCache, logger: Logger,
                notice: @escaping @Sendable (String) -> Void = { _ in }) {
        self.podman = podman
        self.bootcPodman = bootcPodman ?? podman
        self.trees = trees
        self.rootful = rootful
        self.runner = runner
        self.cache = cache
        self.logger = logger
        self.notice = notice
    }

    /// auto means bootc for images that ship /usr/bin/bootc (looked for in the image, whatever its label says).
    public func resolveInstaller(_ request: InstallRequest) async throws -> InstallerChoice {
        if request.rootFilesystem != nil {
            // bootc install runs the image as a container, which a bare folder is not.
            guard request.installer != .bootc else { throw InstallerError.bootcNeedsImage(path: request.reference) }
            return .direct
        }
        switch request.installer {
        case .direct: return .direct
        case .bootc: return .bootc
        case .auto:
            // The label alone is a claim: an image may carry it and still lack bootc.
            let hasBootc = try await facts(request).hasBootc
            if !hasBootc && request.image.labels?["containers.bootc"] == "1" {
                notice("note: \(request.reference) is labelled containers.bootc=1 but has no /usr/bin/bootc; installing it with the direct installer")
            }
            return hasBootc ? .bootc : .direct
        }
    }

    private func facts(_ request: InstallRequest) async throws -> ImageTreeFacts {
        guard let facts = try await trees.facts([source(request)]).first else {
            throw ImageTreeError(message: "no facts were read from \(request.reference)")
        }
        return facts
    }

    private func source(_ request: InstallRequest) -> ImageTreeSource {
        request.rootFilesystem.map { .folder(path: $0.path) } ?? .image(id: request.image.id)
    }

    /// Says whether the disk for `request` is cached, and if not, what changed. Looks only:
    /// never mounts the image (with `auto`, a disk cached by either installer is the answer).
    public func plan(_ request: InstallRequest) async throws -> CachePlan {
        try request.validate()
        let candidates: [InstallerChoice]
        if request.rootFilesystem != nil {
            candidates = [try await resolveInstaller(request)]  // a folder: decided without mounting
        } else if request.installer == .auto {
            candidates = request.image.labels?["containers.bootc"] == "1" ? [.bootc, .direct] : [.direct, .bootc]
        } else {
            candidates = [request.installer]
        }
        for candidate in candidates {
            let key = request.cacheKey(installer: candidate).key
            if let hit = cache.lookup(key) {
                return CachePlan(key: key, installer: candidate, reuse: true,
                                 reason: "a disk for these inputs is cached (installed \(ISO8601DateFormatter().string(from: hit.created)))",
                                 disk: hit.artifacts.disk)
            }
        }
        // Nothing cached: report the likelier installer (the label's word) and its key.
        let installer = candidates[0]
        let inputs = request.cacheKey(installer: installer)
        let key = inputs.key
        let previous = cache.entries().filter { $0.inputs.reference == request.reference }.max { $0.created < $1.created }
        let reason: String
        if let previous {
            let changes = inputs.differences(from: previous.inputs)
            reason = changes.isEmpty ? "no cached disk for these inputs" : changes.joined(separator: "; ")
        } else {
            reason = "no disk of \(request.reference) is cached"
        }
        return CachePlan(key: key, installer: installer, reuse: false, reason: reason, disk: nil)
    }

    /// Returns the cached disk for the request, installing it first when there is none.
    /// `progress` hears one line per stage.
    public func install(_ request: InstallRequest, progress: @escaping @Sendable (String) -> Void,
                        meter: (@Sendable (UInt64, UInt64) -> Void)? = nil) async throws -> CacheManifest {
        try request.validate()
        let installer = try await resolveInstaller(request)
        let inputs = request.cacheKey(installer: installer)
        let key = inputs.key
        // Held before the lookup: a concurrent `cache prune` cannot remove what this run found
        // (best effort: a read-only cache cannot be pruned either).
        try? cache.holdInUse(key)
        if let hit = cache.lookup(key) { return hit }

        cache.removeAbandonedPartials()
        let lock = try cache.lock(key)
        defer { withExtendedLifetime(lock) {} }
        // Another process may have finished the same install while we waited for the lock.
        if let hit = cache.lookup(key) {
            progress("Reusing the disk another podman-bootc just installed")
            return hit
        }

        let partial = try cache.makePartial(for: key)
        do {
            let started = ContinuousClock.now
            let (artifacts, kernelVersion): (BootArtifacts, String)
            switch installer {
            case .bootc, .auto:
                (artifacts, kernelVersion) = try await installWithBootc(request, into: partial, progress: progress)
            case .direct:
                progress("Installing \(request.reference) (direct installer) into a \(request.effectiveDiskSize) disk")
                let spec = DirectDiskSpec(reference: request.reference, diskSize: request.effectiveDiskSize,
                                          architecture: request.architecture, kernelArguments: request.bootc.kernelArguments,
                                          directory: partial.path)
                // mkfs says nothing while it copies; the disk's allocated size tells how far it is.
                let disk = try await DiskWriteMeter.watching(partial.appendingPathComponent("disk.raw"),
                                                             expected: request.image.size, meter: meter) {
                    try await trees.buildDirectDisk(source(request), spec: spec)
                }
                (artifacts, kernelVersion) = (disk.artifacts, disk.kernelVersion)
            }
            let manifest = CacheManifest(key: key, inputs: inputs, kernelVersion: kernelVersion, artifacts: artifacts, created: Date())
            try cache.commit(partial: partial, key: key, manifest: manifest)
            guard let installed = cache.lookup(key) else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSFilePathErrorKey: cache.entry(for: key).path])
            }
            let seconds = Double((ContinuousClock.now - started).components.seconds)
            logger.info("installed \(request.reference) in \(seconds)s")
            return installed
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
    }

    private func installWithBootc(_ request: InstallRequest, into partial: URL,
                                  progress: @Sendable (String) -> Void) async throws -> (BootArtifacts, kernelVersion: String) {
        if !rootful && bootcPodman.endpoint == podman.endpoint {
            throw InstallerError.bootcNeedsRootfulPodman(image: request.reference)
        }
        let facts = try await facts(request)
        guard facts.hasBootc else { throw InstallerError.noBootc(image: request.reference) }
        if request.bootc.filesystem == nil && !facts.declaresRootFilesystem {
            throw BootcInstallerError.noDefaultFilesystem(image: request.reference)
        }
        let kernelVersion = facts.kernelVersion ?? "unknown"
        if bootcPodman.endpoint != podman.endpoint {
            try await bootcPodman.ensureImage(request.image, reference: request.reference, from: podman, notice: progress)
        }
        progress("Installing \(request.reference) with bootc install to-disk into a \(request.effectiveDiskSize) disk")
        let disk = try await BootcInstaller(runner: runner, endpoint: bootcPodman.endpoint).install(
            image: request.image.id, size: request.effectiveDiskSize, options: request.bootc, into: partial)
        return (BootArtifacts(method: .uefi, disk: disk.path, kernel: nil, initrd: nil, kernelArguments: []), kernelVersion)
    }
}
