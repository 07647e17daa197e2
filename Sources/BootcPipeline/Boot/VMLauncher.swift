// The boot stage: an installed disk becomes a VM (folder, keys, credentials, overlay) and a
// started domain, restored from a warm state when one is usable, else booted cold.

import BootcCore
import Export
import Foundation
import Host
import Installer
import Libvirt

/// What a launch did: the warm-start decision as a value.
package enum LaunchResult: Sendable {
    /// Restored from a saved running state; the VM holds its own identity already.
    case restored(LaunchedVM)
    /// Booted for real; `save`: a template whose state the save step saves once SSH answers.
    case booted(LaunchedVM, save: PendingWarmSave?)
    /// `cache warm` found a usable state: nothing was started.
    case alreadyWarm(key: String)

    package var vm: LaunchedVM? {
        switch self {
        case .restored(let vm), .booted(let vm, _): vm
        case .alreadyWarm: nil
        }
    }

    var pendingSave: PendingWarmSave? {
        if case .booted(_, let save) = self { return save }
        return nil
    }
}

struct VMLauncher: Sendable {
    let context: PipelineContext

    /// Creates and boots a VM from `manifest`'s disk: restored from a warm state when one is
    /// usable, else booted cold. Everything it made is removed again when a step fails.
    func launch(_ image: ImageToInstall, _ options: VMOptions, manifest cached: CacheManifest, architecture: Architecture, imageID: String,
                connection: any HypervisorConnection, seed: URL?) async throws -> LaunchResult {
        let vms = context.vms
        let remote = try RemoteHost.of(connection.uri)
        if remote != nil && (options.secureBoot || options.tpm) {
            throw VMError.notOnRemoteHosts("--secure-boot and --tpm")
        }
        // Secure Boot: a direct-installed disk boots through the image's signed chain instead.
        let manifest = options.secureBoot ? try await SecureBootDisk(context: context).prepare(cached) : cached
        let accelerator = try await chooseAccelerator(options.accelerator, for: architecture, remote: remote != nil, connection: connection)
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
        record.apply(options, connection: connection, seed: seed)
        // A kernel argument overrides the image's configuration.
        let arguments = manifest.artifacts.kernelArguments
        record.selinux = arguments.contains("selinux=0") ? nil : arguments.contains("enforcing=0") ? "permissive" : manifest.artifacts.selinux
        try vms.create(record)
        var remotePool: (any HostStoragePool)?
        do {
            // Each VM has its own copy: libvirt relabels the files a running domain uses.
            if let seed { try FileManager.default.copyItem(at: seed, to: vms.cloudInitSeed(id)) }
            let identity = try makeIdentity(for: record, options: options)
            if options.identity == .cloudInit { try await writeIdentitySeed(identity, for: record) }
            var domains = DomainStarter(context: context, connection: connection)
            let fstab = options.sharedFolders.fstabCredential.map { [$0] } ?? []
            let credentials = try domains.deliver((options.identity == .cloudInit ? [] : identity.credentials) + fstab, for: record)
            var placement: RemotePlacement?
            if let remote {
                (remotePool, placement) = try await placeRemotely(record, on: remote, manifest: manifest, credentials: credentials,
                                                                  connection: connection)
                // QEMU binds the guest's SSH port on the remote host's loopback: a free port
                // here says nothing there; a taken one is retried with another.
                domains.choosePort = { Int.random(in: 20_000..<60_000) }
            }
            let (starter, placed, vmFolder) = (domains, placement, vms.folder(id))
            let coldSpec: @Sendable (VMRecord, CredentialDelivery) -> DomainSpec = { record, credentials in
                var spec = starter.spec(record, manifest: manifest, credentials: credentials)
                // The warm-start agent's ports: a state saved from this VM serves its clones through them.
                spec.socketChannels = GuestAgentChannel.socketChannels(in: vmFolder)
                placed?.apply(to: &spec)
                return spec
            }
            let boot = ColdBoot(context: context, domains: starter, manifest: manifest, record: record, identity: identity,
                                credentials: credentials, remotePool: remotePool, coldSpec: coldSpec)
            return try await warmOrCold(boot, options: options, seed: seed, remote: remote != nil, connection: connection)
        } catch {
            await remotePool?.removeVolumes(ofVM: id)
            vms.remove(id)
            throw error
        }
    }

    /// The warm-start plan carried out: a restore (a cold boot when it fails), nothing
    /// (`cache warm` with a state ready), or a cold boot that may save a state.
    private func warmOrCold(_ boot: ColdBoot, options: VMOptions, seed: URL?, remote: Bool,
                            connection: any HypervisorConnection) async throws -> LaunchResult {
        let record = boot.record
        var facts = WarmStartFacts(
            mode: options.warmStart, cloudInitSeed: seed != nil || options.identity == .cloudInit, remoteHost: remote,
            network: options.network == .none ? .none : .card, sharedFolders: !options.sharedFolders.isEmpty,
            emulatedArchitecture: record.architecture != .host && record.accelerator == .tcg, kept: !record.removeOnExit,
            tpm: options.tpm)
        var inputs: WarmStateInputs?
        if facts.cacheMatters {
            let warm = WarmStart(context: context)
            let shape = try await warm.inputs(for: record, diskKey: boot.manifest.key, user: options.user,
                                              coldSpec: boot.coldSpec(record, boot.credentials), connection: connection)
            warm.cacheFacts(for: shape, into: &facts)
            inputs = shape
        }
        switch WarmStartPlan.decide(facts) {
        case .alreadyWarm(let key):
            context.vms.remove(record.id)
            return .alreadyWarm(key: key)
        case .restore(let state):
            let restore = WarmRestore(context: context)
            if let vm = try await restore.restore(state, record: record, identity: boot.identity, domains: boot.domains,
                                                   coldSpec: { boot.coldSpec($0, boot.credentials) }) {
                return .restored(vm)
            }
            // The failed attempt's port is in the record; the cold boot picks its own.
            facts.state = nil
            facts.stateExisted = true
            return try await bootCold(boot, plan: WarmStartPlan.decide(facts), inputs: inputs)
        case let plan:
            return try await bootCold(boot, plan: plan, inputs: inputs)
        }
    }

    /// A cold boot; as a template (throwaway identity, state saved after SSH answers) when planned.
    private func bootCold(_ boot: ColdBoot, plan: WarmStartPlan, inputs: WarmStateInputs?) async throws -> LaunchResult {
        if case .cold(let notice?) = plan { context.progress.notice(notice) }
        guard let inputs else { return .booted(try await boot.start(), save: nil) }
        let warm = WarmStart(context: context)
        warm.store.noteColdBoot(inputs)
        guard case .coldThenSave = plan else { return .booted(try await boot.start(), save: nil) }
        let (template, credentials) = try warm.makeTemplate(for: boot.record, user: boot.identity.user, domains: boot.domains)
        let spec = boot.coldSpec(boot.record, credentials)
        let pending = PendingWarmSave(inputs: inputs, kernelArguments: spec.kernelArguments, oemStrings: spec.oemStrings,
                                      hasNVRAM: spec.nvram != nil && spec.kernel == nil, template: template, identity: boot.identity)
        return .booted(try await boot.start(bootingWith: credentials), save: pending)
    }

    /// KVM or TCG: a remote host's own devices decide (as its libvirt reports them); here, a probe.
    private func chooseAccelerator(_ chosen: Accelerator?, for architecture: Architecture, remote: Bool,
                                   connection: any HypervisorConnection) async throws -> Accelerator {
        if remote {
            if let chosen { return chosen }
            return await connection.offersKVM(for: architecture) ? .kvm : .tcg
        }
        if chosen == .kvm && architecture != .host {
            throw VMError.kvmForForeignArchitecture(guest: architecture, host: .host)
        }
        let accelerator = AcceleratorProbe.choose(for: architecture, override: chosen)
        if accelerator == .tcg, let advice = AcceleratorProbe.accessAdvice(for: architecture, override: chosen) {
            context.progress.notice(advice)
        }
        return accelerator
    }

    /// The SSH hop is checked (host key, login) before anything is uploaded or booted.
    private func placeRemotely(_ record: VMRecord, on remote: RemoteHost, manifest: CacheManifest, credentials: CredentialDelivery,
                               connection: any HypervisorConnection) async throws -> ((any HostStoragePool)?, RemotePlacement) {
        _ = try await context.guestShell.homeFolder(on: remote.jump, timeout: .seconds(30))
        let pool = try await remote.pool(on: connection, shell: context.guestShell)
        do {
            return (pool, try await place(record, manifest: manifest, credentials: credentials, in: pool))
        } catch {
            await pool.removeVolumes(ofVM: record.id)
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

    /// The VM's own identity: its client key and its guest's host key, both ours.
    private func makeIdentity(for record: VMRecord, options: VMOptions) throws -> VMIdentity {
        let vms = context.vms
        var identity = try VMIdentity.make(name: record.name, user: options.user, privateKey: vms.privateKey(record.id),
                                           pinnedHostKey: vms.pinnedHostKey(record.id), comment: "podman-bootc-\(record.name)")
        identity.loginInBackground = options.agentOnlyAtFirst
        identity.kept = !options.removeOnExit
        return identity
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

extension VMRecord {
    /// The launch options a VM's record keeps.
    fileprivate mutating func apply(_ options: VMOptions, connection: any HypervisorConnection, seed: URL?) {
        libvirtURI = connection.uri
        forwards = options.forwards.isEmpty ? nil : options.forwards
        network = options.network == .user ? nil : options.network
        sharedFolders = options.sharedFolders.isEmpty ? nil : options.sharedFolders
        transientDisk = options.transientDisk ? true : nil
        cloudInitSeed = seed == nil && options.identity != .cloudInit ? nil : true
        secureBoot = options.secureBoot ? true : nil
        tpm = options.tpm ? true : nil
    }
}
