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
            qemuVersion: versions.hypervisor, libvirtVersion: versions.library, toolVersion: ToolVersion.current)
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
    /// as writing its used memory takes) and runs on afterwards. Never fails the run: a state
    /// that cannot be saved only costs the next run its warm start. True when a state is ready.
    @discardableResult
    func save(_ vm: LaunchedVM, _ pending: PendingWarmSave) async -> Bool {
        let store = self.store
        let inputs = pending.inputs
        let progress = context.progress
        let vms = context.vms
        let id = vm.record.id
        do {
            guard let lock = try store.lockIfAvailable(inputs.key, diskKey: inputs.diskKey) else { return false }
            defer { withExtendedLifetime(lock) {} }
            if case .ready = store.lookup(inputs) { return true }
            progress.stage("Saving a warm-start state for the next runs")
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
                try store.commit(partial, manifest: WarmStateManifest(
                    inputs: inputs, stateBytes: checksum.bytes, stateSHA256: checksum.sha256, templateName: vm.record.name,
                    kernelArguments: pending.kernelArguments, oemStrings: pending.oemStrings,
                    credentialNames: [], hasNVRAM: pending.hasNVRAM, created: Date()))
                context.logger.info("saved warm state \(inputs.key) (\(checksum.bytes) bytes)")
                return true
            } catch {
                try? FileManager.default.removeItem(at: partial.folder)
                throw error
            }
        } catch {
            progress.notice("warning: no warm-start state was saved (the next run boots cold): \(error)")
            return false
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
            // An interrupt until the VM is handed over removes it, kept VM or not (as on a cold boot).
            let restoring = record
            return try await InterruptCleanup.shared.guarding({ await VMRemoval.remove(restoring, domain: started, store: vms) }) {
                try await load(state, into: started)
                step("state loaded and checked, guest running")
                var vm = LaunchedVM(record: restoring, domain: started, privateKey: vms.privateKey(restoring.id), consoleLog: vms.consoleLog(restoring.id))
                vm.rootSession = try await giveIdentity(identity, to: vm, state: state, timeout: .seconds(60))
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

    /// Loads the state into a started `domain` while checking the file's checksum, and runs
    /// the guest only when both succeeded: a state that differs from the one saved never runs.
    func load(_ state: WarmStateManifest, into domain: any VirtualMachineDomain) async throws {
        let stateFile = store.files(state).state
        let size = (try? FileManager.default.attributesOfItem(atPath: stateFile.path)[.size] as? UInt64) ?? nil
        guard size == state.stateBytes else {
            throw WarmStartError(reason: "its state file has \(size.map { "\($0)" } ?? "no") bytes, \(state.stateBytes) were saved")
        }
        let clock = ContinuousClock.now
        let logger = context.logger
        async let checksum = Blocking.run {
            let sum = try WarmStateStore.checksum(of: stateFile)
            logger.debug("restore: checksum after \((ContinuousClock.now - clock).seconds) s")
            return sum
        }
        let fd = open(stateFile.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WarmStartError(reason: "cannot read \(stateFile.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try await domain.loadMachineState(from: fd)
        logger.debug("restore: state loaded after \((ContinuousClock.now - clock).seconds) s")
        guard try await checksum.sha256 == state.stateSHA256 else {
            throw WarmStartError(reason: "its state file does not match the checksum it was saved with")
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
        let now = Date().timeIntervalSince1970
        // Names are systemd credential names we chose (a safe alphabet); values travel base64.
        let credentials = identity.publicCredentials.filter { ConfinedFolder.isSafeName($0.name) && !$0.name.contains(" ") }
        let input = ([identity.name, String(format: "%.6f", now), identity.user.name, identity.authorizedKeyLine,
                      identity.hostPublicKeyLine, String(credentials.count)]
                     + credentials.map { "\($0.name) \($0.value.base64EncodedString())" }).joined(separator: "\n")
            + "\n" + identity.hostPrivateKey
        let result = try await session.run(Self.identityScript, input: Data(input.utf8))
        guard result.status == 0 else {
            throw WarmStartError(reason: "the guest did not take its new identity (exit \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return session
    }

    /// Runs as root in the guest. Line 1: hostname, 2: epoch seconds, 3: login user,
    /// 4: authorized key, 5: host public key, 6: a count N, then N lines "credential base64";
    /// the rest: the host private key. Shell builtins wherever they do: every program
    /// started costs a noticeable time under emulation.
    static let identityScript = """
        set -eu
        read -r name; read -r epoch; read -r user; read -r authorized; read -r hostpub; read -r count
        credentials=""
        i=0
        while [ "$i" -lt "$count" ]; do read -r line; credentials="$credentials$line
        "; i=$((i + 1)); done
        date -u -s "@$epoch" >/dev/null 2>&1 || echo "warning: the guest clock was not set" >&2
        printf '%s\\n' "$name" > /proc/sys/kernel/hostname
        umask 077
        # Often a link into the read-only credentials: replaced, not written through.
        rm -f /etc/ssh/ssh_host_ed25519_key
        while IFS= read -r line; do printf '%s\\n' "$line"; done > /etc/ssh/ssh_host_ed25519_key
        umask 022
        printf '%s\\n' "$hostpub" > /etc/ssh/ssh_host_ed25519_key.pub
        umask 077
        authorize() {
          [ -d "$1/.ssh" ] || mkdir -p "$1/.ssh"
          printf '%s\\n' "$authorized" > "$1/.ssh/authorized_keys"
        }
        authorize /root
        if [ "$user" != root ]; then
          home=$(getent passwd "$user" | cut -d: -f6)
          [ -n "$home" ] || { echo "user $user does not exist" >&2; exit 1; }
          authorize "$home"
          chown "$user:" "$home/.ssh" "$home/.ssh/authorized_keys"
        fi
        if command -v restorecon >/dev/null 2>&1; then
          restorecon -R /root/.ssh /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub ${home:+"$home/.ssh"} || true
        fi
        # The template's credentials, still in this boot's credentials, become this VM's own.
        # In the background: remounting costs about half a second under emulation, and the
        # command need not wait for it (sshd already uses the new key files above).
        creds=/run/credentials/@system
        if [ -f "$creds/\(SystemdCredentials.hostKeyName)" ]; then
          (
            mount -o remount,rw "$creds" || exit 0
            cat /etc/ssh/ssh_host_ed25519_key > "$creds/\(SystemdCredentials.hostKeyName)" || true
            printf '%s' "$credentials" | while read -r cname cvalue; do
              [ -n "$cname" ] && [ -f "$creds/$cname" ] && printf '%s' "$cvalue" | base64 -d > "$creds/$cname" || true
            done
            mount -o remount,ro "$creds"
          ) </dev/null >/dev/null 2>&1 &
        fi
        """

    static func copy(_ source: URL, to target: URL, mode: mode_t) throws {
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: source, to: target)
        chmod(target.path, mode)
    }
}
