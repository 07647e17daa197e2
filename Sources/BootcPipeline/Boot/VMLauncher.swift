// The boot stage: an installed disk becomes a VM (folder, keys, credentials, overlay) and a
// started domain, restored from a warm state when one is usable, else booted cold.

import BootcCore
import Export
import Foundation
import Host
import Installer
import Libvirt
import SSH

struct VMLauncher: Sendable {
    let context: PipelineContext

    /// Creates and boots a VM from `manifest`'s disk. Everything it made is removed again when
    /// a step fails.
    func launch(_ image: ImageToInstall, _ options: VMOptions, manifest: CacheManifest, architecture: Architecture, imageID: String,
                connection: any HypervisorConnection, seed: URL?) async throws -> LaunchResult {
        let progress = context.progress
        let vms = context.vms
        let remote = try RemoteHost.of(connection.uri)
        let accelerator: Accelerator
        if remote != nil {
            // The remote host's own devices decide, as its libvirt reports them.
            if let chosen = options.accelerator {
                accelerator = chosen
            } else {
                accelerator = await connection.offersKVM(for: architecture) ? .kvm : .tcg
            }
        } else {
            if options.accelerator == .kvm && architecture != .host {
                throw VMError.kvmForForeignArchitecture(guest: architecture, host: .host)
            }
            accelerator = AcceleratorProbe.choose(for: architecture, override: options.accelerator)
            if accelerator == .tcg, let advice = AcceleratorProbe.accessAdvice(for: architecture, override: options.accelerator) {
                progress.notice(advice)
            }
        }
        let id = VMNames.newID()
        let name = options.name ?? VMNames.defaultName(image: image.name, id: id)
        if try await connection.domain(named: name) != nil {
            throw VMError.nameInUse(name)
        }
        var record = VMRecord(
            id: id, name: name, domainName: name, image: image.name, imageID: imageID, diskKey: manifest.key,
            architecture: architecture, accelerator: accelerator, cpus: options.cpus, memoryMiB: options.memoryMiB,
            sshPort: 0, sshUser: options.user.name, removeOnExit: options.removeOnExit,
            ownerPID: options.removeOnExit ? getpid() : nil, created: Date())
        record.libvirtURI = connection.uri
        record.forwards = options.forwards.isEmpty ? nil : options.forwards
        record.network = options.network == .user ? nil : options.network
        record.sharedFolders = options.sharedFolders.isEmpty ? nil : options.sharedFolders
        record.transientDisk = options.transientDisk ? true : nil
        let identityBySeed = options.identity == .cloudInit
        record.cloudInitSeed = seed == nil && !identityBySeed ? nil : true
        try vms.create(record)
        var remotePool: (any HostStoragePool)?
        do {
            // Each VM has its own copy: libvirt relabels the files a running domain uses.
            if let seed { try FileManager.default.copyItem(at: seed, to: vms.cloudInitSeed(id)) }
            var identity = try makeIdentity(for: record, user: options.user)
            identity.restore.loginInBackground = options.agentOnlyAtFirst
            if identityBySeed {
                try await writeIdentitySeed(identity.restore, for: record)
            }
            var domains = DomainStarter(context: context, connection: connection)
            let fstab = options.sharedFolders.fstabCredential.map { [$0] } ?? []
            let credentials = try domains.deliver((identityBySeed ? [] : identity.credentials) + fstab, for: record)
            var placement: RemotePlacement?
            if let remote {
                // The SSH hop is checked (host key, login) before anything is uploaded or booted.
                _ = try await context.guestShell.homeFolder(on: remote.jump, timeout: .seconds(30))
                let pool = try await remote.pool(on: connection, shell: context.guestShell)
                remotePool = pool
                placement = try await place(record, manifest: manifest, credentials: credentials, in: pool)
                // QEMU binds the guest's SSH port on the remote host's loopback: a free port
                // here says nothing there; a taken one is retried with another.
                domains.choosePort = { Int.random(in: 20_000..<60_000) }
            }
            let coldSpec = { (record: VMRecord) in
                var spec = domains.spec(record, manifest: manifest, credentials: credentials)
                placement?.apply(to: &spec)
                return spec
            }

            // Warm start: not with a cloud-init seed (its first boot is what the user asked for),
            // nor on a remote host (its saved states would be files of this machine).
            var pendingSave: PendingWarmSave?
            // Nor without a network card: a warm state's agent is started over SSH.
            // Nor with shared folders: virtiofs state cannot be saved.
            if options.warmStart != .off && !options.sharedFolders.isEmpty {
                progress.notice("no warm start for a VM with -v folders: a virtiofs share cannot be saved with the running state; booting")
            }
            if options.warmStart != .off && seed == nil && !identityBySeed && remote == nil && options.network != .none
                && options.sharedFolders.isEmpty {
                let warm = WarmStart(context: context)
                let spec = coldSpec(record)
                let inputs = try await warm.inputs(for: record, diskKey: manifest.key, user: options.user,
                                                   coldSpec: spec, connection: connection)
                // A state that existed (stale or unusable) shows this shape is booted again.
                let existed = warm.store.lookup(inputs) != .none
                if let state = warm.usableState(for: inputs) {
                    if options.warmStart == .saveOnly {
                        vms.remove(id)
                        return .alreadyWarm(key: state.key)
                    }
                    if let vm = try await warm.restore(state, record: record, identity: identity.restore, domains: domains, coldSpec: coldSpec) {
                        return .restored(vm)
                    }
                    // The failed attempt's port is in the record; the cold boot picks its own.
                }
                let bootedBefore = warm.store.noteColdBoot(inputs)
                // Another architecture's CPU emulated costs a minute or more per boot: the
                // state (saved in seconds) pays for itself on the next run.
                let emulatedArchitecture = architecture != .host && accelerator == .tcg
                if options.warmStart == .saveOnly || (options.warmStart == .auto && (existed || bootedBefore || emulatedArchitecture)) {
                    pendingSave = PendingWarmSave(
                        inputs: inputs, kernelArguments: spec.kernelArguments, oemStrings: spec.oemStrings,
                        credentialNames: credentials.files.map(\.name), hasNVRAM: spec.nvram != nil && spec.kernel == nil)
                }
            }

            context.stages?.begin("boot")
            if remote == nil { try await domains.createOverlay(for: record, backingDisk: manifest.artifacts.disk) }
            progress.stage("Booting VM \(name) (\(accelerator == .kvm ? "KVM" : "software emulation"), \(options.cpus) CPUs, \(options.memoryMiB) MiB)")
            let domain = try await domains.start(&record, spec: coldSpec)
            return .booted(LaunchedVM(record: record, domain: domain, privateKey: vms.privateKey(id), consoleLog: vms.consoleLog(id),
                                      pendingWarmSave: pendingSave, remoteStorage: remotePool))
        } catch {
            await remotePool?.removeVolumes(ofVM: id)
            vms.remove(id)
            throw error
        }
    }

    /// A remote VM's files as volumes in `pool`: the cached disk (uploaded once), its overlay,
    /// its secret credentials and seed (moved there: this machine keeps only keys and records).
    private func place(_ record: VMRecord, manifest: CacheManifest, credentials: CredentialDelivery,
                       in pool: any HostStoragePool) async throws -> RemotePlacement {
        let vms = context.vms
        let id = record.id
        let base = try await pool.ensureDisk(manifest, progress: context.progress)
        var files: [FirmwareCredentialFile] = []
        for file in credentials.files {
            let path = try await pool.upload(URL(fileURLWithPath: file.file), as: RemoteVolumes.credential(id, file.name), format: "raw")
            try? FileManager.default.removeItem(atPath: file.file)
            files.append(FirmwareCredentialFile(name: file.name, file: path))
        }
        var cdrom: String?
        if record.cloudInitSeed == true {
            cdrom = try await pool.upload(vms.cloudInitSeed(id), as: RemoteVolumes.seed(id), format: "raw")
            try? FileManager.default.removeItem(at: vms.cloudInitSeed(id))
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: manifest.artifacts.disk)[.size] as? NSNumber)?.uint64Value ?? 0
        let overlay = try await pool.createOverlay(RemoteVolumes.overlay(id), backing: base.disk, capacityBytes: size)
        return RemotePlacement(disk: overlay, kernel: base.kernel, initrd: base.initrd,
                               consoleLog: pool.folder + "/" + RemoteVolumes.consoleLog(id), cdrom: cdrom, credentials: files)
    }

    /// The VM's client key and the guest's host key, both ours: the host key is pinned before
    /// the first connection, so none is unverified. Returns the credentials that carry them.
    private func makeIdentity(for record: VMRecord, user: GuestUser) throws -> (credentials: [SystemdCredential], restore: VMIdentity) {
        let vms = context.vms
        let key = SSHKeyPair()
        try key.write(privateKeyTo: vms.privateKey(record.id), comment: "podman-bootc-\(record.name)")
        let hostKey = SSHKeyPair()
        try HostKeyPin(file: vms.pinnedHostKey(record.id)).pin(hostKey.publicKeyBlob)
        var identity = VMIdentity(
            name: record.name, user: user, authorizedKeyLine: key.authorizedKeyLine(comment: "podman-bootc-\(record.name)"),
            hostPrivateKey: hostKey.openSSHPrivateKey(comment: "podman-bootc-host-\(record.name)"),
            hostPublicKeyLine: hostKey.authorizedKeyLine(comment: "podman-bootc-host-\(record.name)"))
        let sshAccess = SystemdCredentials.sshAccess(
            authorizedKeyLine: identity.authorizedKeyLine, user: user,
            hostPrivateKey: identity.hostPrivateKey, hostPublicKeyLine: identity.hostPublicKeyLine)
        identity.publicCredentials = sshAccess.filter { !$0.isSecret }
        return (sshAccess, identity)
    }

    /// The VM's identity as a NoCloud seed in its folder (it holds the host private key, so
    /// it is made here, privately, and never cached).
    private func writeIdentitySeed(_ identity: VMIdentity, for record: VMRecord) async throws {
        let vms = context.vms
        let seedInput = vms.folder(record.id).appendingPathComponent("cidata")
        defer { try? FileManager.default.removeItem(at: seedInput) }
        try FileManager.default.createDirectory(at: seedInput, withIntermediateDirectories: false)
        let portable = CloudInitIdentity(hostname: record.name, user: identity.user, authorizedKeyLine: identity.authorizedKeyLine,
                                         hostPrivateKey: identity.hostPrivateKey, hostPublicKeyLine: identity.hostPublicKeyLine)
        try ExportSequence.writePrivate(try portable.userData(), to: seedInput.appendingPathComponent("user-data"))
        try ExportSequence.writePrivate(try portable.metaData(instanceID: "podman-bootc-\(record.id)"), to: seedInput.appendingPathComponent("meta-data"))
        let made = seedInput.appendingPathComponent("seeds")
        defer { try? FileManager.default.removeItem(at: made) }
        let iso = try await CloudInitSeed(runner: context.runner, folder: made).iso(for: seedInput)
        try FileManager.default.moveItem(at: iso, to: vms.cloudInitSeed(record.id))
    }

    /// Folders of `--rm` VMs whose process was killed: libvirt already destroyed their
    /// auto-destroy domains, so only files are left. A remote VM's volumes are on its host:
    /// they (and its record) go when `connection` is to that host.
    func removeAbandonedVMs(connection: (any HypervisorConnection)?) async {
        let store = context.vms
        for record in store.abandonedTransientVMs() {
            if let remote = (try? RemoteHost.of(record.libvirtURI)) ?? nil {
                guard let connection, record.libvirtURI == connection.uri,
                      let pool = try? await remote.pool(on: connection, shell: context.guestShell) else { continue }
                await pool.removeVolumes(ofVM: record.id)
            }
            context.logger.info("removing state of abandoned VM \(record.name)")
            store.remove(record.id)
        }
        for id in store.incompleteFolders() { store.remove(id) }
    }
}

/// Removes a VM: its domain (if still there) and its folder. Never the cached disk.
/// Serialized: a deadline or a signal may remove the VM while the run's own cleanup does.
enum VMRemoval {
    private static let lock = AsyncLock()

    static func remove(_ record: VMRecord, domain: (any VirtualMachineDomain)?, store: VMStore,
                       remoteStorage: (any HostStoragePool)? = nil) async {
        await lock.withLock {
            try? await domain?.remove()
            await remoteStorage?.removeVolumes(ofVM: record.id)
            store.remove(record.id)
        }
    }
}

/// A lock held across suspension points (NSLock must not be).
actor AsyncLock {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func withLock<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        if held {
            await withCheckedContinuation { waiting.append($0) }
        }
        held = true
        defer {
            if waiting.isEmpty { held = false } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
