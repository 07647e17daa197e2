// Saved running states of booted VMs ("warm states"), kept next to the installed disk they
// were booted from: cache/<disk key>/warm/<state key>/. A state appears whole or not at all.

import BootcCore
import Crypto
import Foundation
import Host
import Installer

/// Everything a saved state depends on. Any other value and the state is not loaded: QEMU
/// restores device state only into the same machine, devices, memory size and QEMU version.
package struct WarmStateInputs: Codable, Sendable, Equatable {
    /// Bumped whenever what a state holds, or how it is made, changes.
    package static let currentFormat = 2

    package var format: Int
    package var diskKey: String
    /// The login user the template was booted for (created at its boot when the image lacks it).
    package var user: String
    package var cpus: Int
    package var memoryMiB: Int
    package var architecture: Architecture
    package var accelerator: Accelerator
    /// sha256 of the domain XML with every per-VM value left out: machine, firmware, CPU
    /// model, devices, kernel and its arguments.
    package var domainShape: String
    package var qemuVersion: UInt
    package var libvirtVersion: UInt
    package var toolVersion: String

    /// `domainShapeXML`: the domain XML with every per-VM value left out (hashed here).
    package init(diskKey: String, user: String, cpus: Int, memoryMiB: Int, architecture: Architecture,
                accelerator: Accelerator, domainShapeXML: String, qemuVersion: UInt, libvirtVersion: UInt, toolVersion: String) {
        self.format = Self.currentFormat
        self.diskKey = diskKey
        self.user = user
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.architecture = architecture
        self.accelerator = accelerator
        self.domainShape = SHA256.hash(data: Data(domainShapeXML.utf8)).hexString
        self.qemuVersion = qemuVersion
        self.libvirtVersion = libvirtVersion
        self.toolVersion = toolVersion
    }

    /// A short digest naming a piece of text the saved state depends on (the guest agent).
    package static func digest(_ text: String) -> String {
        String(SHA256.hash(data: Data(text.utf8)).hexString.prefix(12))
    }

    package var key: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings and integers always encode.
        return SHA256.hash(data: try! encoder.encode(self)).hexString
    }

    /// The same VM as the user asked for it (disk, user, CPUs, memory, acceleration).
    package func sameShape(as other: WarmStateInputs) -> Bool {
        diskKey == other.diskKey && user == other.user && cpus == other.cpus && memoryMiB == other.memoryMiB
            && architecture == other.architecture && accelerator == other.accelerator
    }

    /// Why a state made with `old` cannot be loaded for these inputs, in words.
    package func staleness(of old: WarmStateInputs) -> String {
        var reasons: [String] = []
        if old.format != format { reasons.append("state format \(old.format) -> \(format)") }
        if old.qemuVersion != qemuVersion { reasons.append("QEMU \(Self.version(old.qemuVersion)) -> \(Self.version(qemuVersion))") }
        if old.libvirtVersion != libvirtVersion { reasons.append("libvirt \(Self.version(old.libvirtVersion)) -> \(Self.version(libvirtVersion))") }
        if old.toolVersion != toolVersion { reasons.append("podman-bootc \(old.toolVersion) -> \(toolVersion)") }
        if old.domainShape != domainShape { reasons.append("the VM's machine definition changed") }
        return reasons.isEmpty ? "its inputs changed" : reasons.joined(separator: ", ")
    }

    static func version(_ number: UInt) -> String { "\(number / 1_000_000).\(number / 1000 % 1000).\(number % 1000)" }
}

/// A complete state's sidecar, written last. Besides the inputs it keeps what a restored VM's
/// domain must repeat from the template so QEMU sees the very same machine.
package struct WarmStateManifest: Codable, Sendable, Equatable {
    package var key: String
    package var inputs: WarmStateInputs
    /// Size and sha256 of state.qemu: a file that differs is never loaded.
    package var stateBytes: UInt64
    package var stateSHA256: String
    package var templateName: String
    package var kernelArguments: [String]
    package var oemStrings: [String]
    package var credentialNames: [String]
    package var hasNVRAM: Bool
    package var created: Date
    /// The saved guest runs podman-bootc's agent, waiting on its virtio-serial ports (nil in
    /// states saved before the agent existed).
    package var guestAgent: Bool?
    /// The template's VM generation ID: a restored VM must present another one.
    package var generationID: String?

    package init(inputs: WarmStateInputs, stateBytes: UInt64, stateSHA256: String, templateName: String,
                kernelArguments: [String], oemStrings: [String], credentialNames: [String], hasNVRAM: Bool, created: Date, guestAgent: Bool = false,
                generationID: String? = nil) {
        self.key = inputs.key
        self.inputs = inputs
        self.stateBytes = stateBytes
        self.stateSHA256 = stateSHA256
        self.templateName = templateName
        self.kernelArguments = kernelArguments
        self.oemStrings = oemStrings
        self.credentialNames = credentialNames
        self.hasNVRAM = hasNVRAM
        self.created = created
        self.guestAgent = guestAgent
        self.generationID = generationID
    }
}

/// What `lookup` found for a VM about to start.
package enum WarmStateLookup: Sendable, Equatable {
    case ready(WarmStateManifest)
    /// A state for the same VM shape exists but was made by other versions or definitions.
    case stale(WarmStateManifest, reason: String)
    case none
}

package struct WarmStateStore: Sendable {
    package let cache: DiskCache
    static let manifestName = "manifest.json"
    static let partialPrefix = DiskCache.partialPrefix

    package init(cache: DiskCache) { self.cache = cache }

    package func directory(diskKey: String) -> URL { cache.entry(for: diskKey).appendingPathComponent("warm") }
    package func folder(_ key: String, diskKey: String) -> URL { directory(diskKey: diskKey).appendingPathComponent(key) }

    /// Records a cold boot of `inputs`' shape. A state is saved
    /// only on such a repeat: the first boot of a disk (every edit of an edit loop makes a new
    /// one) would pay for a save that nothing may ever restore.
    package func noteColdBoot(_ inputs: WarmStateInputs) {
        let marker = coldBootMarker(inputs)
        guard !FileManager.default.fileExists(atPath: marker.path) else { return }
        try? FileManager.default.createDirectory(at: marker.deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: marker.path, contents: nil, attributes: [.posixPermissions: 0o600])
    }

    /// Whether `noteColdBoot` recorded a boot of this shape.
    package func hasColdBoot(_ inputs: WarmStateInputs) -> Bool {
        FileManager.default.fileExists(atPath: coldBootMarker(inputs).path)
    }

    private func coldBootMarker(_ inputs: WarmStateInputs) -> URL {
        directory(diskKey: inputs.diskKey).appendingPathComponent(inputs.key + ".booted")
    }

    /// The files of a state, in its folder (complete or partial).
    package struct Files: Sendable {
        package let folder: URL
        package init(folder: URL) { self.folder = folder }
        package var state: URL { folder.appendingPathComponent("state.qemu") }
        /// The fingerprint of `state` when its checksum was last verified.
        package var verified: URL { folder.appendingPathComponent("state.verified") }
        /// The template's disk at the moment of the save: read-only, the backing of every restored VM's overlay.
        package var disk: URL { folder.appendingPathComponent("disk.qcow2") }
        package var nvram: URL { folder.appendingPathComponent("efivars.fd") }
        package var consoleLog: URL { folder.appendingPathComponent("console.log") }
        /// The template's SSH client key and pinned host key (0700 folder): used once per
        /// restore, to give the VM its own keys.
        package var clientKey: URL { folder.appendingPathComponent("ssh/id_ed25519") }
        package var pinnedHostKey: URL { folder.appendingPathComponent("ssh/host_key") }
        package func credential(_ name: String) -> URL { folder.appendingPathComponent("credentials").appendingPathComponent(name) }
    }

    package func files(_ manifest: WarmStateManifest) -> Files {
        Files(folder: folder(manifest.key, diskKey: manifest.inputs.diskKey))
    }

    /// The state for `inputs`, a stale one for the same shape, or none.
    package func lookup(_ inputs: WarmStateInputs) -> WarmStateLookup {
        let all = states(diskKey: inputs.diskKey)
        if let ready = all.first(where: { $0.key == inputs.key }) { return .ready(ready) }
        if let stale = all.first(where: { $0.inputs.sameShape(as: inputs) }) {
            return .stale(stale, reason: inputs.staleness(of: stale.inputs))
        }
        return .none
    }

    /// Every complete state of a disk.
    package func states(diskKey: String) -> [WarmStateManifest] {
        let dir = directory(diskKey: diskKey)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.compactMap { name in
            let url = dir.appendingPathComponent(name).appendingPathComponent(Self.manifestName)
            guard let data = try? Data(contentsOf: url),
                  let manifest = try? Self.decoder.decode(WarmStateManifest.self, from: data),
                  manifest.key == name, manifest.inputs.diskKey == diskKey else { return nil }
            return manifest
        }.sorted { $0.created < $1.created }
    }

    /// Bytes a state takes on disk.
    package func allocatedBytes(_ manifest: WarmStateManifest) -> UInt64 {
        DiskUsage.allocatedBytes(under: files(manifest).folder)
    }

    /// Serializes saving and removing one state across processes: nil when another process
    /// holds it (it is saving the same state, so this one need not).
    package func lockIfAvailable(_ key: String, diskKey: String) throws -> FileLock? {
        let dir = directory(diskKey: diskKey)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        chmod(dir.path, StateAccess.passThroughFolder)
        return try FileLock.ifAvailable(path: dir.appendingPathComponent(".\(key).lock").path)
    }

    /// Size and sha256 of a file, read in large blocks.
    /// An open file's identity, size and modification and change times. A state file that
    /// still shows the fingerprint recorded when its checksum was last verified has not been
    /// written since (its change time cannot be set back), so it need not be read twice.
    package static func fingerprint(of fd: Int32) -> String? {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        func time(_ spec: timespec) -> String { "\(spec.tv_sec)." + String(format: "%09ld", spec.tv_nsec) }
        return "\(status.st_dev) \(status.st_ino) \(status.st_size) \(time(status.st_mtim)) \(time(status.st_ctim))"
    }

    /// Whether the state file open as `fd` is the one whose checksum was verified.
    package func isVerified(_ files: Files, fd: Int32) -> Bool {
        guard let now = Self.fingerprint(of: fd),
              let recorded = try? String(contentsOf: files.verified, encoding: .utf8) else { return false }
        return recorded == now
    }

    /// Records that the state file open as `fd` matched its checksum.
    package func markVerified(_ files: Files, fd: Int32) {
        guard let fingerprint = Self.fingerprint(of: fd) else { return }
        let partial = files.verified.path + ".\(getpid())"
        guard FileManager.default.createFile(atPath: partial, contents: Data(fingerprint.utf8),
                                             attributes: [.posixPermissions: 0o600]) else { return }
        if rename(partial, files.verified.path) != 0 { unlink(partial) }
    }

    package static func checksum(of url: URL) throws -> (bytes: UInt64, sha256: String) {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        var bytes: UInt64 = 0
        while let block = try handle.read(upToCount: 4 << 20), !block.isEmpty {
            hasher.update(data: block)
            bytes += UInt64(block.count)
        }
        return (bytes, hasher.finalize().hexString)
    }

    /// A fresh folder to save a state in (0711 so QEMU's user reaches the disk; ssh/ 0700),
    /// named after this process so a later run can tell whether its writer is alive.
    package func makePartial(_ key: String, diskKey: String) throws -> Files {
        removeAbandonedPartials(diskKey: diskKey)
        let url = directory(diskKey: diskKey).appendingPathComponent("\(Self.partialPrefix)\(key)-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        for sub in ["ssh", "credentials"] {
            try FileManager.default.createDirectory(at: url.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        chmod(url.path, StateAccess.passThroughFolder)
        chmod(url.appendingPathComponent("ssh").path, StateAccess.privateFolder)
        chmod(url.appendingPathComponent("credentials").path, StateAccess.passThroughFolder)
        return Files(folder: url)
    }

    /// Writes the manifest and moves the partial folder into place in one rename.
    package func commit(_ partial: Files, manifest: WarmStateManifest) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(manifest).write(to: partial.folder.appendingPathComponent(Self.manifestName))
        let final = folder(manifest.key, diskKey: manifest.inputs.diskKey)
        try? FileManager.default.removeItem(at: final)
        guard rename(partial.folder.path, final.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: final.path])
        }
    }

    package func remove(_ manifest: WarmStateManifest) throws {
        try FileManager.default.removeItem(at: files(manifest).folder)
    }

    /// Makes a state unusable but keeps its disk, which VMs restored from it still read:
    /// `orphanedFolders` lists it for removal once they are gone.
    package func retire(_ manifest: WarmStateManifest) throws {
        let files = files(manifest)
        try FileManager.default.removeItem(at: files.folder.appendingPathComponent(Self.manifestName))
        try? FileManager.default.removeItem(at: files.state)
    }

    /// Keys of state folders without a manifest (retired), partial folders aside.
    package func orphanedFolders(diskKey: String) -> [String] {
        let dir = directory(diskKey: diskKey)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { name in
            !name.hasPrefix(".") && !FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).appendingPathComponent(Self.manifestName).path)
        }
    }

    /// Partial folders whose writer is gone (killed mid-save).
    package func removeAbandonedPartials(diskKey: String) {
        DiskCache.removeAbandonedPartials(in: directory(diskKey: diskKey))
    }

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

extension Sequence where Element == UInt8 {
    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
