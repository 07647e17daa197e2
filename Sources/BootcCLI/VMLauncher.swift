// The `run` pipeline: image -> installed disk -> per-VM overlay and key -> libvirt domain -> SSH.

import BootcCore
import Foundation
import Host
import Installer
import Libvirt
import Podman
import SSH

struct LaunchOptions: Sendable {
    var image: String
    var name: String?
    var cpus: Int
    var memoryMiB: Int
    var disk: DiskChoices
    var accelerator: Accelerator?
    var forwards: [PortForward] = []
    var transientDisk = false
    /// Who the key is installed for (root always; a user the guest creates when missing).
    var user: GuestUser = .root
    /// A folder with cloud-init user-data (meta-data, network-config): a NoCloud seed CD-ROM.
    var cloudInit: URL?
    /// The image's files as a folder, instead of `image` in podman storage.
    var rootFilesystem: URL?
    var removeOnExit: Bool
    var libvirtURI: String?
    var sshTimeout: Duration
    var warmStart: WarmMode = .auto
}

enum WarmMode: Sendable {
    /// Restore a saved running state when there is one, else boot and save one.
    case auto
    /// Boot for real; save nothing.
    case off
    /// Boot and save a state unless one is ready (`cache warm`).
    case saveOnly
}

struct AlreadyWarm: Error {
    var key: String
}

/// How a VM's systemd credentials reach it.
struct CredentialDelivery: Sendable {
    var oemStrings: [String] = []
    var files: [FirmwareCredentialFile] = []
}

/// A VM that was created and started, with the handles needed to reach and remove it.
struct LaunchedVM: Sendable {
    var record: VMRecord
    var domain: LibvirtDomain
    var privateKey: URL
    var consoleLog: URL
    /// Set on a cold boot that should save a warm state once SSH answers.
    var pendingWarmSave: PendingWarmSave?
    /// A restored VM's verified root session, open already (see `WarmStart.giveIdentity`).
    var rootSession: SSHSession?
}

/// Who logs in over SSH, with which key, expecting which host key.
struct SSHLogin: Sendable {
    var user: String
    var privateKey: URL
    var pin: HostKeyPin
}

struct VMLauncher: Sendable {
    let context: CommandContext

    func diskInstaller(_ choices: DiskChoices) -> DiskInstaller {
        let bootcPodman = choices.connection.map { Podman(runner: context.runner, endpoint: .connection($0)) }
        let progress = context.progress
        return DiskInstaller(podman: context.podman, bootcPodman: bootcPodman, runner: context.runner,
                      cache: DiskCache(directory: context.locations.diskCache), logger: context.logger,
                      notice: { progress.notice($0) })
    }

    /// What `run` would do with the disk, without doing it: nothing is pulled, copied,
    /// mounted or written (an image missing here is reported as what `run` would fetch).
    func plan(_ options: LaunchOptions) async throws -> CachePlan {
        guard geteuid() == 0 else { throw VMError.requiresRoot }
        if options.rootFilesystem == nil, try await context.podman.inspect(options.image) == nil {
            // Where `run` would get it from, asked read-only; nowhere is the error `run` gives.
            let fetch: String
            if let user = PodmanEndpoint.sudoUserStorage(environment: context.environment),
               (try? await Podman(runner: context.runner, endpoint: user).inspect(options.image)) != nil {
                fetch = "copy it from \(user)"
            } else if Podman.namesRegistry(options.image) {
                fetch = "pull it"
            } else {
                throw PodmanError.imageNotFound(reference: options.image, pullError: nil)
            }
            return CachePlan(key: "", installer: options.disk.installer, reuse: false,
                             reason: "\(options.image) is not in rootful podman storage: run would \(fetch), then install its disk", disk: nil)
        }
        return try await diskInstaller(options.disk).plan(try await installRequest(options))
    }

    /// Creates and boots a VM. Everything it made is removed again when a step fails.
    func launch(_ options: LaunchOptions) async throws -> LaunchedVM {
        let progress = context.progress
        let vms = context.vms
        try context.locations.prepare()
        removeAbandonedVMs()

        if let name = options.name, !VMNames.isValid(name) { throw VMError.invalidName(name) }
        guard geteuid() == 0 else { throw VMError.requiresRoot }

        progress.stage("Resolving \(options.image)")
        let request = try await installRequest(options)
        let image = request.image
        let architecture = request.architecture
        let accelerator = AcceleratorProbe.choose(for: architecture, override: options.accelerator)

        // Connect before installing, so an unreachable libvirt fails fast and writes nothing.
        let uri = options.libvirtURI
        let connection = try await Blocking.run { try LibvirtConnection(uri: uri) }

        // The seed first: a folder without user-data fails before anything is installed.
        var seed: URL?
        if let folder = options.cloudInit {
            seed = try await CloudInitSeed(runner: context.runner, folder: context.locations.diskCache.appendingPathComponent("cloud-init")).iso(for: folder)
        }
        context.stages?.begin("install")
        let manifest = try await install(request, choices: options.disk)

        let id = VMNames.newID()
        let name = options.name ?? VMNames.defaultName(image: options.image, id: id)
        if try await Blocking.run({ try connection.domain(named: name) }) != nil {
            throw VMError.nameInUse(name)
        }
        var record = VMRecord(
            id: id, name: name, domainName: name, image: options.image, imageID: image.id, diskKey: manifest.key,
            architecture: architecture, accelerator: accelerator, cpus: options.cpus, memoryMiB: options.memoryMiB,
            sshPort: 0, sshUser: options.user.name, removeOnExit: options.removeOnExit,
            ownerPID: options.removeOnExit ? getpid() : nil, created: Date())
        record.libvirtURI = connection.uri
        record.forwards = options.forwards.isEmpty ? nil : options.forwards
        record.transientDisk = options.transientDisk ? true : nil
        record.cloudInitSeed = seed == nil ? nil : true
        try vms.create(record)
        do {
            // Each VM has its own copy: libvirt relabels the files a running domain uses.
            if let seed { try FileManager.default.copyItem(at: seed, to: vms.cloudInitSeed(id)) }
            let key = SSHKeyPair()
            try key.write(privateKeyTo: vms.privateKey(id), comment: "podman-bootc-\(name)")
            // The guest's host key is ours too: pinned before the first connection, so none is unverified.
            let hostKey = SSHKeyPair()
            try HostKeyPin(file: vms.pinnedHostKey(id)).pin(hostKey.publicKeyBlob)
            var identity = VMIdentity(
                name: name, user: options.user, authorizedKeyLine: key.authorizedKeyLine(comment: "podman-bootc-\(name)"),
                hostPrivateKey: hostKey.openSSHPrivateKey(comment: "podman-bootc-host-\(name)"),
                hostPublicKeyLine: hostKey.authorizedKeyLine(comment: "podman-bootc-host-\(name)"))
            let sshAccess = SystemdCredentials.sshAccess(
                authorizedKeyLine: identity.authorizedKeyLine, user: options.user,
                hostPrivateKey: identity.hostPrivateKey, hostPublicKeyLine: identity.hostPublicKeyLine)
            identity.publicCredentials = sshAccess.filter { !$0.isSecret }
            let credentials = try deliver(sshAccess, for: record)

            // Warm start: not with a cloud-init seed (its first boot is what the user asked for).
            var pendingSave: PendingWarmSave?
            if options.warmStart != .off && seed == nil {
                let warm = WarmStart(context: context)
                let coldSpec = domainSpec(record, manifest: manifest, credentials: credentials)
                let inputs = try await warm.inputs(for: record, diskKey: manifest.key, user: options.user,
                                                   coldSpec: coldSpec, connection: connection)
                if let state = warm.usableState(for: inputs) {
                    if options.warmStart == .saveOnly { throw AlreadyWarm(key: state.key) }
                    if let vm = await restore(state, record: record, manifest: manifest, credentials: credentials,
                                              identity: identity, connection: connection) {
                        return vm
                    }
                    // The failed attempt's port is in the record; the cold boot picks its own.
                }
                pendingSave = PendingWarmSave(
                    inputs: inputs, kernelArguments: coldSpec.kernelArguments, oemStrings: coldSpec.oemStrings,
                    credentialNames: credentials.files.map(\.name), hasNVRAM: coldSpec.nvram != nil && coldSpec.kernel == nil)
            }

            context.stages?.begin("boot")
            try await createOverlay(for: record, backingDisk: manifest.artifacts.disk)
            progress.stage("Booting VM \(name) (\(accelerator == .kvm ? "KVM" : "software emulation"), \(options.cpus) CPUs, \(options.memoryMiB) MiB)")
            let domain = try await start(&record, connection: connection) { domainSpec($0, manifest: manifest, credentials: credentials) }
            return LaunchedVM(record: record, domain: domain, privateKey: vms.privateKey(id), consoleLog: vms.consoleLog(id),
                              pendingWarmSave: pendingSave)
        } catch {
            vms.remove(id)
            throw error
        }
    }

    /// Restores `state` into this VM and gives it its identity; nil (with a notice, the state
    /// removed, the attempt's domain gone) when that fails, so the caller boots cold instead.
    private func restore(_ state: WarmStateManifest, record: VMRecord, manifest: CacheManifest,
                         credentials: CredentialDelivery, identity: VMIdentity,
                         connection: LibvirtConnection) async -> LaunchedVM? {
        let warm = WarmStart(context: context)
        let vms = context.vms
        var record = record
        record.warmState = state.key
        record.uuid = UUID().uuidString.lowercased()
        context.stages?.begin("restore")
        context.progress.stage("Restoring VM \(record.name) from warm state \(state.key.prefix(12))")
        var domain: LibvirtDomain?
        do {
            let clock = ContinuousClock.now
            let logger = context.logger
            func step(_ what: String) { logger.debug("restore: \(what) after \((ContinuousClock.now - clock).seconds) s") }
            try await warm.prepareFiles(for: record, from: state)
            step("files")
            let started = try await start(&record, connection: connection, coldSpec: { domainSpec($0, manifest: manifest, credentials: credentials) }) {
                warm.restoreSpec(state, coldSpec: domainSpec($0, manifest: manifest, credentials: credentials), record: $0)
            }
            domain = started
            step("domain started")
            // An interrupt until the VM is handed over removes it, kept VM or not (as on a cold boot).
            let restoring = record
            let interrupted = InterruptCleanup.shared.register { VMLauncher.remove(restoring, domain: started, store: vms) }
            defer { InterruptCleanup.shared.discard(interrupted) }
            try await warm.load(state, into: started)
            step("state loaded and checked, guest running")
            var vm = LaunchedVM(record: record, domain: started, privateKey: vms.privateKey(record.id), consoleLog: vms.consoleLog(record.id))
            vm.rootSession = try await warm.giveIdentity(identity, to: vm, state: state, timeout: .seconds(60))
            step("identity given")
            return vm
        } catch {
            if let domain { try? domain.remove() }
            context.progress.notice("warm state \(state.key.prefix(12)) is unusable (\(error)); booting cold")
            warm.discard(state)
            return nil
        }
    }

    /// The install inputs: the image from podman storage, or the root filesystem folder.
    func installRequest(_ options: LaunchOptions) async throws -> InstallRequest {
        guard let folder = options.rootFilesystem else {
            return options.disk.request(reference: options.image, image: try await context.findImage(options.image))
        }
        let image = try await Blocking.run { try RootFilesystem.inspect(folder) }
        var request = options.disk.request(reference: folder.path, image: image)
        request.rootFilesystem = folder
        return request
    }

    /// Installs (or finds cached) the disk for `request`. An interrupt mid-install must not
    /// leave the image mounted; the partial disk folder is removed by the next run (its
    /// owner's PID is in its name).
    func install(_ request: InstallRequest, choices: DiskChoices) async throws -> CacheManifest {
        let imageID = request.image.id
        let unmountOnInterrupt = InterruptCleanup.shared.register {
            let unmount = Process()
            unmount.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            unmount.arguments = PodmanArguments.unmountImage(imageID)
            unmount.standardOutput = FileHandle.nullDevice
            unmount.standardError = FileHandle.nullDevice
            try? unmount.run()
            unmount.waitUntilExit()
        }
        defer { InterruptCleanup.shared.discard(unmountOnInterrupt) }
        let progress = context.progress
        return try await diskInstaller(choices).install(request, progress: { progress.stage($0) },
                                                        meter: { progress.bar("Writing the root filesystem", done: $0, total: $1) })
    }

    /// The VM's copy-on-write disk over the cached disk, which VMs never write. The host key
    /// survives a new overlay: the guest gets it from its credential at every boot.
    func createOverlay(for record: VMRecord, backingDisk: String) async throws {
        let overlay = context.vms.overlay(record.id).path
        try? FileManager.default.removeItem(atPath: overlay)
        try await context.runner.check(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", backingDisk, overlay])
    }

    /// Starts the domain on a free loopback port; retries with another port when one was
    /// taken between choosing it and QEMU binding it.
    /// Public credentials go into SMBIOS OEM strings (x86_64); secret ones, and all of them
    /// where there is no SMBIOS (aarch64 direct kernel boot), into fw_cfg files in the VM folder.
    func deliver(_ credentials: [SystemdCredential], for record: VMRecord) throws -> CredentialDelivery {
        var delivery = CredentialDelivery()
        for credential in credentials {
            if credential.isSecret || record.architecture != .x86_64 {
                try context.vms.writeCredential(record.id, name: credential.name, value: credential.value)
                delivery.files.append(FirmwareCredentialFile(
                    name: credential.name, file: context.vms.credentialFile(record.id, name: credential.name).path))
            } else {
                delivery.oemStrings.append(credential.oemString)
            }
        }
        return delivery
    }

    /// Starts the domain `spec` describes on a free loopback port; retries with another port
    /// when one was taken between choosing it and QEMU binding it. With `coldSpec` (a restore),
    /// a kept VM's definition is the cold one: its next `start` boots its own disk normally.
    private func start(_ record: inout VMRecord, connection: LibvirtConnection,
                       coldSpec: ((VMRecord) -> DomainSpec)? = nil,
                       spec: (VMRecord) -> DomainSpec) async throws -> LibvirtDomain {
        var attempt = 0
        while true {
            attempt += 1
            record.sshPort = try FreePort.loopback()
            try context.vms.save(record)
            let xml = spec(record).render()
            let persistentXML = coldSpec?(record).render()
            context.logger.debug("domain XML", metadata: ["xml": "\(xml)"])
            let transient = record.removeOnExit
            do {
                return try await Blocking.run {
                    if transient { return try connection.createTransient(xml: xml, autoDestroy: true) }
                    if let persistentXML {
                        let domain = try connection.createTransient(xml: xml, autoDestroy: false)
                        do { _ = try connection.define(xml: persistentXML) } catch {
                            try? domain.remove()
                            throw error
                        }
                        return domain
                    }
                    let domain = try connection.define(xml: xml)
                    do { try domain.start() } catch {
                        try? domain.undefine()
                        throw error
                    }
                    return domain
                }
            } catch let error as LibvirtError where attempt < 3 && error.message.contains("host forwarding") {
                continue
            }
        }
    }

    func domainSpec(_ record: VMRecord, manifest: CacheManifest, credentials: CredentialDelivery) -> DomainSpec {
        let vms = context.vms
        return DomainSpec(
            name: record.domainName, uuid: record.uuid, architecture: record.architecture, accelerator: record.accelerator,
            cpus: record.cpus, memoryMiB: record.memoryMiB,
            kernel: manifest.artifacts.kernel, initrd: manifest.artifacts.initrd,
            // Each VM gets its name as hostname, so shells and logs say which VM they are.
            // `quiet`: every console byte is an emulated UART write, slow under TCG; warnings,
            // errors and failed units still reach the console log.
            kernelArguments: manifest.artifacts.kernelArguments + ["quiet", "systemd.hostname=\(record.name)"],
            nvram: vms.folder(record.id).appendingPathComponent("efivars.fd").path,
            disk: vms.overlay(record.id).path, consoleLog: vms.consoleLog(record.id).path,
            sshPort: record.sshPort, forwards: record.forwards ?? [], oemStrings: credentials.oemStrings,
            firmwareCredentials: credentials.files,
            cdrom: record.cloudInitSeed == true ? vms.cloudInitSeed(record.id).path : nil,
            metadata: [("id", record.id), ("image", record.image), ("image-id", record.imageID),
                       ("ssh-port", String(record.sshPort)), ("ssh-user", record.sshUser),
                       ("created", ISO8601DateFormatter().string(from: record.created))])
    }

    /// Polls SSH until it authenticates, the VM stops, or the timeout passes. Each failed
    /// attempt is cheap (QEMU accepts and closes at once while the guest has no sshd).
    func waitForSSH(_ vm: LaunchedVM, timeout: Duration, login: SSHLogin? = nil, announce: Bool = true) async throws -> SSHSession {
        let progress = announce ? context.progress : ProgressReporter.silent
        let record = vm.record
        let login = login ?? SSHLogin(user: record.sshUser, privateKey: vm.privateKey, pin: HostKeyPin(file: context.vms.pinnedHostKey(record.id)))
        let deadline = ContinuousClock.now + timeout
        var lastError = "no attempt"
        var first = true
        while ContinuousClock.now < deadline {
            progress.waiting("Waiting for SSH on 127.0.0.1:\(record.sshPort)", first: first)
            first = false
            let domain = vm.domain
            let active = try await Blocking.run { domain.isActive }
            guard active else {
                progress.doneWaiting()
                showConsoleTail(vm.consoleLog)
                throw VMError.stoppedWhileBooting(name: record.name, consoleLog: vm.consoleLog.path)
            }
            let remaining = deadline - ContinuousClock.now
            let attemptTimeout = min(remaining, .seconds(10))
            do {
                let session = try await Blocking.run {
                    try SSHSession(host: "127.0.0.1", port: record.sshPort, user: login.user,
                                   privateKey: login.privateKey, timeout: attemptTimeout) { try login.pin.verify($0, vm: record.name) }
                }
                progress.doneWaiting()
                progress.stage("SSH ready")
                return session
            } catch let mismatch as HostKeyMismatch {
                throw mismatch
            } catch {
                lastError = "\(error)"
                context.logger.debug("ssh attempt failed", metadata: ["error": "\(error)"])
            }
            // Short polls: a failed attempt costs QEMU an accept and a close, and a restored
            // guest answers within a second or two.
            try await Task.sleep(for: .milliseconds(200))
        }
        progress.doneWaiting()
        showConsoleTail(vm.consoleLog)
        throw VMError.sshTimeout(name: record.name, seconds: timeout.wholeSeconds, port: record.sshPort,
                                 lastError: lastError, consoleLog: vm.consoleLog.path)
    }

    private func showConsoleTail(_ log: URL) {
        let lines = ConsoleLog.tail(log)
        guard !lines.isEmpty else { return }
        context.progress.notice("--- last lines of the serial console ---\n" + lines.joined(separator: "\n") + "\n---")
    }

    /// Removes a VM: its domain (if still there) and its folder. Never the cached disk.
    /// Serialized: a deadline or a signal may remove the VM while the run's own cleanup does.
    static func remove(_ record: VMRecord, domain: LibvirtDomain?, store: VMStore) {
        removal.withLock {
            try? domain?.remove()
            store.remove(record.id)
        }
    }

    private static let removal = NSLock()

    /// Folders of `--rm` VMs whose process was killed: libvirt already destroyed their
    /// auto-destroy domains, so only files are left.
    private func removeAbandonedVMs() {
        let store = context.vms
        for record in store.abandonedTransientVMs() {
            context.logger.info("removing state of abandoned VM \(record.name)")
            store.remove(record.id)
        }
        for id in store.incompleteFolders() { store.remove(id) }
    }
}
