// Warm start: the first VM of a (disk, VM shape) pair that answers SSH has its running state
// saved; later VMs of that pair restore it instead of booting, each on its own copy-on-write
// overlay of the template's disk, then get their own keys, hostname and clock over SSH.

import BootcCore
import Foundation
import Host
import Installer
import Libvirt

/// What `save` needs besides the VM: the template's own domain values, repeated by every
/// restored VM so QEMU loads the state into the very same machine.
struct PendingWarmSave: Sendable {
    var inputs: WarmStateInputs
    var kernelArguments: [String]
    var oemStrings: [String]
    var credentialNames: [String]
    var hasNVRAM: Bool
}

/// A VM's identity as restore gives it to the guest.
struct VMIdentity: Sendable {
    var name: String
    var user: GuestUser
    var authorizedKeyLine: String
    var hostPrivateKey: String
    var hostPublicKeyLine: String
    /// The VM's own public credentials (tmpfiles.extra, sysusers.extra), written over the
    /// template's copies the restored guest still holds.
    var publicCredentials: [SystemdCredential] = []
    /// Only the guest agent runs commands at first (a `--rm` run with a command): the login
    /// keys are written in the background, and a later SSH login waits for them.
    var loginInBackground = false
}

struct WarmStartError: ToolError {
    var reason: String
    var description: String { reason }
}

struct WarmStart: Sendable {
    let context: PipelineContext

    var store: WarmStateStore { WarmStateStore(cache: DiskCache(directory: context.locations.diskCache)) }

    func inputs(for record: VMRecord, diskKey: String, user: GuestUser, coldSpec: DomainSpec,
                connection: any HypervisorConnection) async throws -> WarmStateInputs {
        let versions = try await connection.versions()
        return WarmStateInputs(
            diskKey: diskKey, user: user.name, cpus: record.cpus, memoryMiB: record.memoryMiB,
            architecture: record.architecture, accelerator: record.accelerator, domainShapeXML: coldSpec.shapeXML,
            qemuVersion: versions.hypervisor, libvirtVersion: versions.library,
            // The saved guest runs this build's agent: another agent means another state.
            toolVersion: ToolVersion.current + "+agent." + WarmStateInputs.digest(GuestAgent.startCommand + GuestAgent.script))
    }

    /// The state to restore, if any. A stale one is removed (a new one replaces it after this boot).
    func usableState(for inputs: WarmStateInputs) -> WarmStateManifest? {
        switch store.lookup(inputs) {
        case .ready(let state): return state
        case .none: return nil
        case .stale(let state, let reason):
            context.progress.notice("warm state \(state.key.prefix(12)) is stale (\(reason)); booting cold")
            discard(state)
            return nil
        }
    }

    /// Removes a state, unless another process holds it (it is saving it anew). Its disk stays
    /// while VMs restored from it exist (`cache prune` removes it after them).
    func discard(_ state: WarmStateManifest) {
        guard let lock = try? store.lockIfAvailable(state.key, diskKey: state.inputs.diskKey) else { return }
        if context.vms.all().contains(where: { $0.warmState == state.key }) {
            try? store.retire(state)
        } else {
            try? store.remove(state)
        }
        withExtendedLifetime(lock) {}
    }

    // MARK: Save

    /// Saves a cold-booted VM's running state; the guest is paused for the save (about as long
    /// as writing its used memory takes) and runs on afterwards. `session` (the VM's first SSH
    /// session) starts the guest agent, then ends: the state must hold no SSH connection.
    /// Never fails the run: a state that cannot be saved only costs the next run its warm
    /// start. True when a state is ready.
    @discardableResult
    func save(_ vm: LaunchedVM, _ pending: PendingWarmSave, session: any GuestSession) async -> Bool {
        let store = self.store
        let inputs = pending.inputs
        let progress = context.progress
        let vms = context.vms
        let id = vm.record.id
        var agent: GuestAgentChannel?
        // The template's agent ends once the host lets go of its ports, after the save.
        defer { agent?.close() }
        do {
            guard let lock = try store.lockIfAvailable(inputs.key, diskKey: inputs.diskKey) else {
                await session.disconnect()
                return false
            }
            defer { withExtendedLifetime(lock) {} }
            if case .ready = store.lookup(inputs) {
                await session.disconnect()
                return true
            }
            progress.stage("Saving a warm-start state for the next runs")
            agent = await startAgent(in: vm, over: session)
            await session.disconnect()
            let partial = try store.makePartial(inputs.key, diskKey: inputs.diskKey)
            do {
                let domain = vm.domain
                let fd = open(partial.state.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw WarmStartError(reason: "cannot write \(partial.state.path): \(String(cString: strerror(errno)))") }
                defer { close(fd) }
                // A Ctrl-C while the guest is paused must not leave a kept VM paused.
                try await InterruptCleanup.shared.guarding({ try? await domain.resumeGuest() }) {
                    do {
                        try await domain.saveMachineState(to: fd)
                        // The disks must be copied before the guest writes to them again.
                        try await Blocking.run {
                            try Self.copy(vms.overlay(id), to: partial.disk, mode: 0o400)
                            if pending.hasNVRAM {
                                try Self.copy(vms.folder(id).appendingPathComponent("efivars.fd"), to: partial.nvram, mode: 0o600)
                            }
                        }
                    } catch {
                        try? await domain.resumeGuest()
                        throw error
                    }
                    try await domain.resumeGuest()
                }
                try Self.copy(vms.privateKey(id), to: partial.clientKey, mode: 0o600)
                try Self.copy(vms.pinnedHostKey(id), to: partial.pinnedHostKey, mode: 0o600)
                try? Self.copy(vm.consoleLog, to: partial.consoleLog, mode: StateAccess.privateFile)
                let checksum = try await Blocking.run { try WarmStateStore.checksum(of: partial.state) }
                let written = open(partial.state.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                if written >= 0 {
                    store.markVerified(partial, fd: written)
                    close(written)
                }
                try store.commit(partial, manifest: WarmStateManifest(
                    inputs: inputs, stateBytes: checksum.bytes, stateSHA256: checksum.sha256, templateName: vm.record.name,
                    kernelArguments: pending.kernelArguments, oemStrings: pending.oemStrings,
                    credentialNames: [], hasNVRAM: pending.hasNVRAM, created: Date(), guestAgent: agent != nil))
                context.logger.info("saved warm state \(inputs.key) (\(checksum.bytes) bytes)")
                return true
            } catch {
                try? FileManager.default.removeItem(at: partial.folder)
                throw error
            }
        } catch {
            await session.disconnect()
            progress.notice("warning: no warm-start state was saved (the next run boots cold): \(error)")
            return false
        }
    }

    /// Starts the guest agent in the template and waits until it listens; nil (restored VMs
    /// then log in over SSH) when the guest cannot run it.
    private func startAgent(in vm: LaunchedVM, over session: any GuestSession) async -> GuestAgentChannel? {
        do {
            let agent = try await GuestAgentChannel.connect(to: vm.domain)
            let started = try await session.run(GuestAgent.startCommand, input: Data(GuestAgent.script.utf8))
            guard started.status == 0 else {
                throw GuestAgentError(reason: "it did not start (exit \(started.status)): \(started.output)")
            }
            try await Blocking.run { try agent.waitUntilReady(timeout: .seconds(20)) }
            return agent
        } catch {
            context.logger.info("the warm state has no guest agent: \(error)")
            return nil
        }
    }

    // MARK: Restore

    /// Restores `state` into this VM and gives it its identity; nil (with a notice, the state
    /// removed, the attempt's domain gone) when that fails, so the caller boots cold instead.
    /// Throws only when the run is cancelled meanwhile.
    func restore(_ state: WarmStateManifest, record: VMRecord, identity: VMIdentity, domains: DomainStarter,
                 coldSpec: @escaping (VMRecord) -> DomainSpec) async throws -> LaunchedVM? {
        let vms = context.vms
        var record = record
        record.warmState = state.key
        record.uuid = UUID().uuidString.lowercased()
        context.stages?.begin("restore")
        context.progress.stage("Restoring VM \(record.name) from warm state \(state.key.prefix(12))")
        var domain: (any VirtualMachineDomain)?
        do {
            let clock = ContinuousClock.now
            let logger = context.logger
            func step(_ what: String) { logger.debug("restore: \(what) after \((ContinuousClock.now - clock).seconds) s") }
            try await prepareFiles(for: record, from: state, domains: domains)
            step("files")
            let started = try await domains.start(&record, persistentSpec: coldSpec) {
                restoreSpec(state, coldSpec: coldSpec($0))
            }
            domain = started
            step("domain started")
            // Connected before the state loads: the saved agent waits on ports it saw connected.
            var agent: GuestAgentChannel?
            if state.guestAgent == true {
                do {
                    agent = try await GuestAgentChannel.connect(to: started)
                } catch {
                    context.logger.info("restore: no guest agent channel (\(error)); using SSH")
                }
            }
            // An interrupt until the VM is handed over removes it, kept VM or not (as on a cold boot).
            let restoring = record
            return try await InterruptCleanup.shared.guarding({ await VMRemoval.remove(restoring, domain: started, store: vms) }) {
                try await load(state, into: started)
                step("state loaded and checked, guest running")
                var vm = LaunchedVM(record: restoring, domain: started, privateKey: vms.privateKey(restoring.id), consoleLog: vms.consoleLog(restoring.id))
                if let agent, let session = try await giveIdentity(identity, to: vm, through: agent) {
                    vm.rootSession = session
                } else {
                    agent?.close()
                    vm.rootSession = try await giveIdentity(identity, to: vm, state: state, timeout: .seconds(60))
                }
                step("identity given")
                return vm
            }
        } catch {
            if let domain { try? await domain.remove() }
            // Interrupted, not unusable: the state stays for the next run.
            if InterruptCleanup.shared.isInterrupted { throw error }
            context.progress.notice("warm state \(state.key.prefix(12)) is unusable (\(error)); booting cold")
            discard(state)
            return nil
        }
    }

    /// The domain of a VM restored from `state`: same machine as the template, the VM's own
    /// name, disk, console log, ports and credentials (never the template's secrets: the guest
    /// read its credentials at boot, so these only matter if it reads them again), and QEMU
    /// waiting for the state.
    func restoreSpec(_ state: WarmStateManifest, coldSpec: DomainSpec) -> DomainSpec {
        var spec = coldSpec
        spec.kernelArguments = state.kernelArguments
        spec.incomingMigration = true
        spec.appendConsoleLog = true
        return spec
    }

    /// Lays out a restored VM's files: its overlay over the template's disk, copies of the
    /// template's UEFI variables (QEMU reopens them), the template's boot log.
    func prepareFiles(for record: VMRecord, from state: WarmStateManifest, domains: DomainStarter) async throws {
        let files = store.files(state)
        let vms = context.vms
        try await domains.createOverlay(for: record, backingDisk: files.disk.path, backingFormat: "qcow2")
        if state.hasNVRAM {
            try Self.copy(files.nvram, to: vms.folder(record.id).appendingPathComponent("efivars.fd"), mode: 0o600)
        }
        if (try? Self.copy(files.consoleLog, to: vms.consoleLog(record.id), mode: StateAccess.privateFile)) == nil {
            _ = FileManager.default.createFile(atPath: vms.consoleLog(record.id).path, contents: nil)
        }
    }

    /// Loads the state into a started `domain` while checking the file's checksum (unless the
    /// file is unchanged since a check), and runs the guest only when both succeeded: a state
    /// that differs from the one saved never runs. (Checking costs ~0.4 s of a restore on two
    /// CPUs: it competes with QEMU reading the same file.)
    func load(_ state: WarmStateManifest, into domain: any VirtualMachineDomain) async throws {
        let files = store.files(state)
        let stateFile = files.state
        let fd = open(stateFile.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw WarmStartError(reason: "cannot read \(stateFile.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        let size = fstat(fd, &status) == 0 ? UInt64(status.st_size) : nil
        guard size == state.stateBytes else {
            throw WarmStartError(reason: "its state file has \(size.map { "\($0)" } ?? "no") bytes, \(state.stateBytes) were saved")
        }
        let clock = ContinuousClock.now
        let logger = context.logger
        let verified = store.isVerified(files, fd: fd)
        // The file QEMU reads, through a descriptor of its own (QEMU moves the offset of `fd`).
        let sameFile = URL(fileURLWithPath: "/proc/self/fd/\(fd)")
        async let checksum: String? = verified ? nil : Blocking.run {
            let sum = try WarmStateStore.checksum(of: sameFile)
            logger.debug("restore: checksum after \((ContinuousClock.now - clock).seconds) s")
            return sum.sha256
        }
        try await domain.loadMachineState(from: fd)
        logger.debug("restore: state loaded after \((ContinuousClock.now - clock).seconds) s")
        if !verified {
            guard try await checksum == state.stateSHA256 else {
                throw WarmStartError(reason: "its state file does not match the checksum it was saved with")
            }
            store.markVerified(files, fd: fd)
        }
        try await domain.resumeGuest()
        logger.debug("restore: resumed after \((ContinuousClock.now - clock).seconds) s")
    }

    /// Gives a restored guest its own identity over SSH, logged in with the template's key:
    /// this VM's authorized key (replacing the template's) and host key, hostname, clock.
    /// Everything travels on stdin to a fixed script; no shell text is built from values.
    /// Returns the session it used: already verified (the template's pinned host key) and
    /// logged in as root, it can serve the run's command as well.
    func giveIdentity(_ identity: VMIdentity, to vm: LaunchedVM, state: WarmStateManifest, timeout: Duration) async throws -> any GuestSession {
        let files = store.files(state)
        let login = GuestLogin(port: vm.record.sshPort, user: "root", privateKey: files.clientKey,
                               pinnedHostKey: files.pinnedHostKey, vmName: vm.record.name)
        let session = try await SSHWaiter(context: context).waitForSSH(vm, timeout: timeout, login: login)
        context.logger.debug("restore: logged in with the template's key")
        let result = try await session.run(GuestIdentityScript.overSSH, input: identityInput(identity))
        try Self.check(result)
        return session
    }

    /// The same through the guest agent: no SSH login. Returns a session that runs commands
    /// through the agent and logs in over SSH (with the VM's own key) only for what needs it;
    /// nil when the agent does not answer (the caller logs in with the template's key).
    func giveIdentity(_ identity: VMIdentity, to vm: LaunchedVM, through agent: GuestAgentChannel) async throws -> (any GuestSession)? {
        let context = self.context
        let session = AgentSession(agent: agent, beforeSSH: identity.loginInBackground ? GuestIdentityScript.waitForLogin : nil) {
            try await SSHWaiter(context: context).waitForSSH(vm, timeout: .seconds(60), announce: false)
        }
        let result: (status: Int32, output: String)
        do {
            result = try await session.runInAgent(GuestIdentityScript.agentCall(loginInBackground: identity.loginInBackground),
                                                  input: identityInput(identity), timeout: .seconds(20))
        } catch let error as GuestAgentError {
            context.logger.info("restore: the guest agent did not answer (\(error)); using SSH")
            return nil
        }
        try Self.check(result)
        context.logger.debug("restore: identity given through the guest agent")
        return session
    }

    /// The identity script's stdin (see GuestIdentityScript).
    private func identityInput(_ identity: VMIdentity) -> Data {
        let now = Date().timeIntervalSince1970
        // Names are systemd credential names we chose (a safe alphabet); values travel base64.
        let credentials = identity.publicCredentials.filter { ConfinedFolder.isSafeName($0.name) && !$0.name.contains(" ") }
        let input = ([identity.name, String(format: "%.6f", now), identity.user.name, identity.authorizedKeyLine,
                      identity.hostPublicKeyLine, String(credentials.count)]
                     + credentials.map { "\($0.name) \($0.value.base64EncodedString())" }).joined(separator: "\n")
            + "\n" + identity.hostPrivateKey
        return Data(input.utf8)
    }

    private static func check(_ result: (status: Int32, output: String)) throws {
        guard result.status == 0 else {
            throw WarmStartError(reason: "the guest did not take its new identity (exit \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    static func copy(_ source: URL, to target: URL, mode: mode_t) throws {
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: source, to: target)
        chmod(target.path, mode)
    }
}
