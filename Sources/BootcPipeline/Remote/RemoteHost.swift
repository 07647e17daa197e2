// VMs on another machine's libvirt (qemu+ssh://USER@HOST/system or /session): their files
// live in a storage pool of ours on that host, filled through libvirt's storage API, so no
// path of this machine appears in a domain there; the cached disk is uploaded once per host
// and cache key; guests are reached through an SSH tunnel to the host.

import BootcCore
import Foundation
import Installer
import Libvirt

/// The remote host a libvirt URI names, and how to reach it over SSH.
struct RemoteHost: Sendable {
    static let poolName = "podman-bootc"

    let uri: RemoteLibvirtURI
    let jump: JumpHost

    /// nil when `uri` names this machine. The SSH defaults (user, key files, known_hosts)
    /// are the account's own, from the password database as OpenSSH reads them.
    static func of(_ uri: String?) throws -> RemoteHost? {
        guard let uri, let remote = try RemoteLibvirtURI.parse(uri) else { return nil }
        let account = getpwuid(geteuid())
        let user = account.map { String(cString: $0.pointee.pw_name) } ?? "root"
        let home = account.map { String(cString: $0.pointee.pw_dir) } ?? "/root"
        return RemoteHost(uri: remote, jump: remote.jumpHost(localUser: user, home: home))
    }

    /// Our pool on the host: under libvirt's image folder for the system daemon, under the
    /// SSH user's own for a session daemon (which runs as that user).
    func pool(on connection: any HypervisorConnection, shell: any GuestShell) async throws -> any HostStoragePool {
        let (uri, jump) = (uri, jump)
        return try await connection.storagePool(named: Self.poolName) {
            guard uri.isSession else { return "/var/lib/libvirt/images/podman-bootc" }
            return try await shell.homeFolder(on: jump, timeout: .seconds(30)) + "/.local/share/libvirt/images/podman-bootc"
        }
    }
}

/// Names of our volumes: a cached disk's by its cache key and the upload that made it (shared
/// by every VM booted from it), a VM's by its ID (removed with the VM).
enum RemoteVolumes {
    /// Each upload writes its own volumes (two first runs on one host never delete each
    /// other's mid-upload); `upload` is nil for the names of earlier versions.
    static func disk(_ key: String, upload: String? = nil) -> String { "disk-\(key)\(upload.map { "-\($0)" } ?? "").raw" }
    static func kernel(_ key: String, upload: String? = nil) -> String { "disk-\(key)\(upload.map { "-\($0)" } ?? "").vmlinuz" }
    static func initrd(_ key: String, upload: String? = nil) -> String { "disk-\(key)\(upload.map { "-\($0)" } ?? "").initrd" }
    /// Written last, naming the upload that finished: "KEY UPLOAD" ("KEY" from earlier versions).
    static func complete(_ key: String) -> String { "disk-\(key).complete" }

    /// Which volumes a marker's text names.
    enum PublishedUpload: Equatable {
        /// An earlier version's upload: volumes without an upload name.
        case unnamed
        case named(String)

        var name: String? {
            if case .named(let name) = self { return name }
            return nil
        }
    }

    /// nil for text that names nothing of `key`'s.
    static func upload(inMarker text: String, key: String) -> PublishedUpload? {
        let words = text.split(separator: " ").map(String.init)
        guard words.first == key else { return nil }
        if words.count == 1 { return .unnamed }
        guard words.count == 2, words[1].count == 16, words[1].allSatisfy(\.isHexDigit) else { return nil }
        return .named(words[1])
    }

    static func ofVM(_ id: String) -> String { "vm-\(id)." }
    static func overlay(_ id: String) -> String { ofVM(id) + "overlay.qcow2" }
    static func credential(_ id: String, _ name: String) -> String { ofVM(id) + "credential." + name }
    static func seed(_ id: String) -> String { ofVM(id) + "cidata.iso" }
    static func consoleLog(_ id: String) -> String { ofVM(id) + "console.log" }
}

/// The cached disk's files on the remote host.
struct RemoteDisk: Sendable {
    var disk: String
    var kernel: String?
    var initrd: String?
    /// False when the host had it from an earlier run.
    var uploaded: Bool
}

extension HostStoragePool {
    /// The cached disk on the host, uploaded unless a complete upload is there already.
    func ensureDisk(_ manifest: CacheManifest, progress: ProgressReporter) async throws -> RemoteDisk {
        if let published = try await publishedDisk(manifest) { return published }
        let key = manifest.key
        let artifacts = manifest.artifacts
        progress.stage("Uploading the disk to the remote host (once per host and disk)")
        // Volumes of this upload only: another run's upload of the same disk goes on beside it.
        let id = String(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))
        var kernel: String?
        var initrd: String?
        do {
            if let file = artifacts.kernel { kernel = try await upload(URL(fileURLWithPath: file), as: RemoteVolumes.kernel(key, upload: id), format: "raw") }
            if let file = artifacts.initrd { initrd = try await upload(URL(fileURLWithPath: file), as: RemoteVolumes.initrd(key, upload: id), format: "raw") }
            let disk = try await upload(URL(fileURLWithPath: artifacts.disk), as: RemoteVolumes.disk(key, upload: id), format: "raw")
            let marker = FileManager.default.temporaryDirectory.appendingPathComponent("podman-bootc-\(UUID().uuidString).complete")
            try Data("\(key) \(id)".utf8).write(to: marker)
            defer { try? FileManager.default.removeItem(at: marker) }
            _ = try await upload(marker, as: RemoteVolumes.complete(key), format: "raw")
            return RemoteDisk(disk: disk, kernel: kernel, initrd: initrd, uploaded: true)
        } catch {
            // A failed or cancelled upload leaves none of its volumes (names no one else uses).
            for name in [RemoteVolumes.kernel(key, upload: id), RemoteVolumes.initrd(key, upload: id), RemoteVolumes.disk(key, upload: id)] {
                try? await delete(name)
            }
            throw error
        }
    }

    /// The upload the host's marker names, when all its volumes are there.
    private func publishedDisk(_ manifest: CacheManifest) async throws -> RemoteDisk? {
        let key = manifest.key
        guard let text = try await read(RemoteVolumes.complete(key), from: 0, limit: 256),
              let published = RemoteVolumes.upload(inMarker: String(decoding: text, as: UTF8.self), key: key),
              let disk = try await volumePath(RemoteVolumes.disk(key, upload: published.name)) else { return nil }
        let id = published.name
        let kernel = manifest.artifacts.kernel == nil ? nil : try await volumePath(RemoteVolumes.kernel(key, upload: id))
        let initrd = manifest.artifacts.initrd == nil ? nil : try await volumePath(RemoteVolumes.initrd(key, upload: id))
        guard (manifest.artifacts.kernel == nil) == (kernel == nil) && (manifest.artifacts.initrd == nil) == (initrd == nil) else { return nil }
        return RemoteDisk(disk: disk, kernel: kernel, initrd: initrd, uploaded: false)
    }

    /// Every volume of VM `id` (its overlay, credentials, seed, console log).
    func removeVolumes(ofVM id: String) async {
        let prefix = RemoteVolumes.ofVM(id)
        for name in (try? await volumeNames()) ?? [] where name.hasPrefix(prefix) {
            try? await delete(name)
        }
    }
}

/// Where a remote VM's domain finds its files: paths on the host, every one a volume.
struct RemotePlacement: Sendable {
    var disk: String
    var kernel: String?
    var initrd: String?
    var consoleLog: String
    var cdrom: String?
    var credentials: [FirmwareCredentialFile]

    func apply(to spec: inout DomainSpec) {
        spec.disk = disk
        spec.kernel = spec.kernel == nil ? nil : kernel
        spec.initrd = spec.initrd == nil ? nil : initrd
        spec.consoleLog = consoleLog
        spec.cdrom = spec.cdrom == nil ? nil : cdrom
        spec.firmwareCredentials = credentials
        // libvirt keeps a UEFI VM's variables in its own folder on the host.
        spec.nvram = nil
        // The warm-start agent's sockets are local files; a remote VM has none.
        spec.socketChannels = []
    }
}

extension PipelineContext {
    /// How to log in to a VM's guest: its key and pinned host key, tunnelled through the
    /// VM's host when that is another machine.
    func guestLogin(for record: VMRecord, user: String? = nil) throws -> GuestLogin {
        var login = GuestLogin(port: record.sshPort, user: user ?? record.sshUser, privateKey: vms.privateKey(record.id),
                               pinnedHostKey: vms.pinnedHostKey(record.id), vmName: record.name)
        login.via = try RemoteHost.of(record.libvirtURI)?.jump
        return login
    }
}
