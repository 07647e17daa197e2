// `podman-bootc export`: the cached disk `run` would boot, made bootable where it goes and
// written as a raw or qcow2 file, a KubeVirt containerDisk image, or a KubeVirt VM manifest,
// with a portable identity (cloud-init NoCloud) when asked. No second install: the disk
// comes from the same cache, built and installed first when needed, exactly as `run` would.

import BootcCore
import Export
import Foundation
import Host
import Installer
import Podman
import SSH

package struct ExportSequence: Sendable {
    package let context: PipelineContext

    package init(context: PipelineContext) { self.context = context }

    package func export(_ request: ExportRequest) async throws -> ExportResult {
        let plan = try Plan(request)
        try context.locations.prepare()
        let image = try await RunSequence(context: context).prepareImage(request.target, config: request.config)
        let name = plan.name
        let stage = DiskStage(context: context)
        let install = try await stage.request(for: image, choices: request.disk)
        context.stages?.begin("install")
        let manifest = try await stage.install(install, choices: request.disk)
        let architecture = install.architecture

        let scratch = try Scratch(root: context.locations.root)
        return try await InterruptCleanup.shared.guarding({ scratch.remove() }) {
            defer { scratch.remove() }
            var result = ExportResult(name: name, cacheKey: manifest.key,
                                      bootloader: manifest.artifacts.method != .directKernel ? "the image's own, installed by bootc"
                                          : request.secureBoot
                                          ? "the image's signed shim and GRUB, for Secure Boot, added on a new EFI system partition"
                                          : "systemd-boot added on a new EFI system partition (the direct installer's disk boots by direct kernel boot and has none)")
            context.progress.stage("Making \(name)'s disk bootable")
            let raw = scratch.folder.appendingPathComponent("disk.raw")
            try await BootableDiskWriter(runner: context.runner).writeRaw(
                from: manifest.artifacts, architecture: architecture, title: "\(name) (\(image.name))", to: raw, scratch: scratch.folder,
                secureBoot: request.secureBoot)
            var disk = raw
            if request.format != .raw {
                context.progress.stage("Converting to qcow2")
                disk = scratch.folder.appendingPathComponent("\(name).qcow2")
                try await context.runner.check(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw.path, disk.path])
                try? FileManager.default.removeItem(at: raw)
            }

            var identity: CloudInitIdentity?
            // Checked again now, minutes after the plan, and held open until the last file.
            let output = try plan.identityFolder.map { try PrivateOutputFolder($0.path) }
            if let output {
                do {
                    identity = try await writeIdentity(name: name, user: request.user, into: output.folder, scratch: scratch.folder)
                } catch {
                    output.removeWritten()
                    throw error
                }
                result.identityFolder = plan.identityFolder?.path
            }
            // An export that fails after this point leaves no keys for a disk that was never written.
            do {
                try await finish(request, plan: plan, name: name, image: image, manifest: manifest, architecture: architecture,
                                 disk: disk, identity: identity, output: output, scratch: scratch, result: &result)
            } catch {
                output?.removeWritten()
                throw error
            }
            return result
        }
    }

    private func finish(_ request: ExportRequest, plan: Plan, name: String, image: ImageToInstall, manifest: CacheManifest,
                        architecture: Architecture, disk: URL, identity: CloudInitIdentity?, output identityOutput: PrivateOutputFolder?,
                        scratch: Scratch, result: inout ExportResult) async throws {
        switch request.format {
        case .raw, .qcow2:
            let output = plan.diskOutput ?? URL(fileURLWithPath: "\(name).\(request.format.rawValue)")  // set for raw and qcow2
            try DiskPublisher.publish(disk, at: output)
            result.disk = output.path
        case .containerdisk, .kubevirt:
            let tag = plan.tag ?? "localhost/\(name)-containerdisk:latest"
            context.progress.stage("Importing the containerDisk \(tag)")
            let layer = scratch.folder.appendingPathComponent("layer")
            try FileManager.default.createDirectory(at: layer, withIntermediateDirectories: false)
            _ = try await ContainerDiskImage(runner: context.runner, podman: context.podman).build(
                qcow2: disk, diskName: "\(name).qcow2", reference: tag,
                labels: [ContainerDiskImage.cacheKeyLabel: manifest.key, ContainerDiskImage.sourceImageLabel: image.name],
                architecture: architecture, stage: layer)
            result.image = tag
            if request.format == .kubevirt, let identity, let identityOutput {
                result.manifests = try writeManifests(name: name, tag: tag, identity: identity, request: request,
                                                      cacheKey: manifest.key, source: image.name, into: identityOutput.folder)
            }
        }
    }

    // MARK: Parts

    /// The options checked and the output paths fixed before anything is built or installed.
    struct Plan {
        var name: String
        var diskOutput: URL?
        var tag: String?
        var identityFolder: URL?

        init(_ request: ExportRequest) throws {
            if let name = request.name, !KubeVirtManifest.isValidName(name) { throw ExportUsageError.invalidName(name) }
            name = request.name ?? ExportSequence.defaultName(for: request.target)
            if let tag = request.tag {
                guard request.format == .containerdisk || request.format == .kubevirt else {
                    throw ExportUsageError.optionNotForFormat(option: "-t", format: request.format.rawValue)
                }
                guard ImageReference.isValid(tag), !tag.allSatisfy(\.isHexDigit) else { throw ExportUsageError.invalidTag(tag) }
                self.tag = tag
            }
            switch request.format {
            case .raw, .qcow2:
                diskOutput = try Self.newFile(request.output ?? "\(name).\(request.format.rawValue)")
                if let identity = request.identity { identityFolder = try Self.newFolder(identity) }
            case .containerdisk:
                if request.output != nil { throw ExportUsageError.optionNotForFormat(option: "-o", format: "containerdisk (use -t)") }
                if let identity = request.identity { identityFolder = try Self.newFolder(identity) }
            case .kubevirt:
                if request.identity != nil { throw ExportUsageError.optionNotForFormat(option: "--identity", format: "kubevirt (the identity goes into -o)") }
                identityFolder = try Self.newFolder(request.output ?? "\(name)-kubevirt")
            }
        }

        static func newFile(_ path: String) throws -> URL {
            let url = URL(fileURLWithPath: path)
            var info = stat()
            if lstat(url.path, &info) == 0 { throw ExportError.outputExists(url.path) }
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.deletingLastPathComponent().path, isDirectory: &isFolder), isFolder.boolValue else {
                throw ExportError.outputFolderMissing(url.path)
            }
            return url
        }

        /// A folder that does not exist yet (made later, private) or an empty one that is the
        /// caller's and no one else can write to: checked here, before any install work.
        static func newFolder(_ path: String) throws -> URL {
            let url = URL(fileURLWithPath: path)
            var info = stat()
            if lstat(url.path, &info) == 0 {
                guard (info.st_mode & S_IFMT) == S_IFDIR, (try? FileManager.default.contentsOfDirectory(atPath: url.path))?.isEmpty == true else {
                    throw ExportUsageError.identityFolderNotEmpty(url.path)
                }
            } else {
                _ = try newFile(path)
            }
            do { try PrivateOutputFolder.check(url.path) } catch let refused as any ToolError {
                throw ExportUsageError.untrustedFolder("\(refused)")
            }
            return url
        }
    }

    /// A hostname from what the user named, known before anything is resolved:
    /// `quay.io/fedora/fedora-bootc:42` gives `fedora-bootc`, `./images/web/` gives `web`,
    /// `app.build` gives `app`.
    static func defaultName(for target: String) -> String {
        var base = target.split(separator: "@").first.map(String.init) ?? target
        base = base.split(separator: "/").last.map(String.init) ?? base
        if let colon = base.firstIndex(of: ":") { base = String(base[..<colon]) }
        if base.hasSuffix(".build") { base = String(base.dropLast(".build".count)) }
        var name = String(base.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "-" })
        name = String(name.prefix(52)).trimmingCharacters(in: CharacterSet(charactersIn: "-"))
        return KubeVirtManifest.isValidName(name) ? name : "podman-bootc"
    }

    /// Keys, known_hosts, user-data, meta-data and the NoCloud seed ISO, in a private folder,
    /// each file new and written relative to the open folder.
    private func writeIdentity(name: String, user: GuestUser, into folder: ConfinedFolder, scratch: URL) async throws -> CloudInitIdentity {
        let key = SSHKeyPair()
        try key.write(into: folder, name: "id_ed25519", comment: "podman-bootc-\(name)")
        let hostKey = SSHKeyPair()
        let identity = CloudInitIdentity(
            hostname: name, user: user, authorizedKeyLine: key.authorizedKeyLine(comment: "podman-bootc-\(name)"),
            hostPrivateKey: hostKey.openSSHPrivateKey(comment: "podman-bootc-host-\(name)"),
            hostPublicKeyLine: hostKey.authorizedKeyLine(comment: "podman-bootc-host-\(name)"))
        let seedInput = scratch.appendingPathComponent("cidata")
        try FileManager.default.createDirectory(at: seedInput, withIntermediateDirectories: false)
        let files = [("user-data", try identity.userData()),
                     ("meta-data", try identity.metaData(instanceID: "podman-bootc-\(name)-\(UUID().uuidString.lowercased())"))]
        for (file, text) in files {
            try Self.writePrivate(text, to: seedInput.appendingPathComponent(file))
            try Self.writePrivate(text, named: file, in: folder)
        }
        try Self.writePrivate(identity.knownHostsLine, named: "known_hosts", in: folder)
        let iso = try await CloudInitSeed(runner: context.runner, folder: scratch.appendingPathComponent("seeds")).iso(for: seedInput)
        let source = try FileDescriptorHandle.openRegularFile(iso.path)
        let copy = try folder.createFile("cidata.iso", mode: StateAccess.privateFile, replacing: false)
        try Self.copyAll(from: source, to: copy)
        return identity
    }

    private func writeManifests(name: String, tag: String, identity: CloudInitIdentity, request: ExportRequest,
                                cacheKey: String, source: String, into folder: ConfinedFolder) throws -> [String] {
        let manifest = KubeVirtManifest(
            name: name, containerDisk: tag, userData: try identity.userData(), memoryMiB: request.memoryMiB, cpus: request.cpus,
            annotations: ["podman-bootc/cache-key": cacheKey, "podman-bootc/source-image": source])
        let vm = try Self.writePrivate(try manifest.virtualMachineYAML(), named: "\(name).vm.yaml", in: folder)
        let secret = try Self.writePrivate(try manifest.secretYAML(), named: "\(name).cloud-init-secret.yaml", in: folder)
        return [secret, vm]
    }

    /// A new private file in podman-bootc's own scratch folder.
    static func writePrivate(_ text: String, to url: URL) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, StateAccess.privateFile)
        guard fd >= 0 else { throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: url.path]) }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// A new private file `name` in the open output folder (O_CREAT|O_EXCL|O_NOFOLLOW); its path.
    @discardableResult
    static func writePrivate(_ text: String, named name: String, in folder: ConfinedFolder) throws -> String {
        let file = try folder.createFile(name, mode: StateAccess.privateFile, replacing: false)
        try Data(text.utf8).withUnsafeBytes { try file.write($0) }
        return file.path
    }

    static func copyAll(from source: FileDescriptorHandle, to target: FileDescriptorHandle) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while case let count = try source.read(into: &buffer), count > 0 {
            try buffer.withUnsafeBytes { try target.write(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }
}

/// A private working folder under the state root, removed when the export ends; one left by
/// a killed export is removed by the next (its lock is no longer held).
struct Scratch: Sendable {
    let folder: URL
    private let lock: FileLock

    init(root: URL) throws {
        let parent = root.appendingPathComponent("export")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        chmod(parent.path, StateAccess.privateFolder)
        Self.removeAbandoned(in: parent)
        folder = parent.appendingPathComponent(UUID().uuidString.lowercased())
        // The lock first: another export's sweep removes any folder whose lock it can take.
        lock = try FileLock(path: parent.appendingPathComponent("\(folder.lastPathComponent).lock").path)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        chmod(folder.path, StateAccess.privateFolder)
    }

    func remove() {
        try? FileManager.default.removeItem(at: folder)
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: folder.path + ".lock"))
    }

    private static func removeAbandoned(in parent: URL) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? [] where !entry.hasSuffix(".lock") {
            let lockFile = parent.appendingPathComponent("\(entry).lock")
            guard (try? FileLock.ifAvailable(path: lockFile.path)) != nil else { continue }
            try? FileManager.default.removeItem(at: parent.appendingPathComponent(entry))
            try? FileManager.default.removeItem(at: lockFile)
        }
    }
}
