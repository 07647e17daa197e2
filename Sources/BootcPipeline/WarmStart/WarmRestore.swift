// A VM restored from a saved state: the state file verified before QEMU starts, a domain like
// the template's but with this VM's name, files, ports, credentials and a new generation ID,
// the state loaded, then the identity step. A restore that fails anywhere is thrown away and
// the VM boots cold.

import BootcCore
import Foundation
import Host
import Libvirt

struct WarmRestore: Sendable {
    let context: PipelineContext

    /// Restores `state` into this VM and gives it its identity; nil (with a one-line notice,
    /// the state discarded, the attempt's domain gone) when that fails, so the caller boots
    /// cold instead. Throws only when the run is cancelled meanwhile.
    func restore(_ state: WarmStateManifest, record cold: VMRecord, identity: VMIdentity, domains: DomainStarter,
                 coldSpec: @escaping (VMRecord) -> DomainSpec) async throws -> LaunchedVM? {
        var record = cold
        record.warmState = state.key
        record.uuid = UUID().uuidString.lowercased()
        context.progress.stage("Restoring VM \(record.name) from warm state \(state.key.prefix(12))")
        var domain: (any VirtualMachineDomain)?
        do {
            stage("verify")
            let stateFile = try openVerified(state)
            defer { close(stateFile) }
            stage("start")
            try await prepareFiles(for: record, from: state, domains: domains)
            let started = try await domains.start(&record, persistentSpec: coldSpec) {
                restoreSpec(state, coldSpec: coldSpec($0))
            }
            domain = started
            // An interrupt until the VM is handed over removes it, kept VM or not (as on a cold boot).
            let restoring = record
            let vms = context.vms
            return try await InterruptCleanup.shared.guarding({ await VMRemoval.remove(restoring, domain: started, store: vms) }) {
                try await wake(started, record: restoring, from: state, stateFile: stateFile, identity: identity)
            }
        } catch {
            if let domain { try? await domain.remove() }
            // Interrupted, not unusable: the state stays for the next run.
            if InterruptCleanup.shared.isInterrupted { throw error }
            context.progress.notice("warm state \(state.key.prefix(12)) is unusable (\(error)); booting cold")
            // The VM is no clone of it any more (so the state can go now), nor holds its variables.
            try? context.vms.save(cold)
            try? FileManager.default.removeItem(at: context.vms.folder(record.id).appendingPathComponent("efivars.fd"))
            WarmStart(context: context).discard(state)
            return nil
        }
    }

    /// Loads the state into the started domain, runs it and gives it its identity.
    private func wake(_ domain: any VirtualMachineDomain, record: VMRecord, from state: WarmStateManifest, stateFile: Int32,
                      identity: VMIdentity) async throws -> LaunchedVM {
        let xml = try await domain.xmlDescription()
        try checkGenerationID(inLiveXML: xml, of: record, template: state)
        // Connected before the state loads: the saved agent waits on ports it saw connected.
        var agent: GuestAgentChannel?
        if state.guestAgent == true {
            do {
                agent = try GuestAgentChannel.connect(liveXML: xml)
            } catch {
                context.logger.info("restore: no guest agent channel (\(error)); using SSH")
            }
        }
        stage("load")
        try await domain.loadMachineState(from: stateFile)
        try await domain.resumeGuest()
        stage("identity")
        let vms = context.vms
        var vm = LaunchedVM(record: record, domain: domain, privateKey: vms.privateKey(record.id), consoleLog: vms.consoleLog(record.id))
        let files = WarmStart(context: context).store.files(state)
        let templateLogin = GuestLogin(port: record.sshPort, user: "root", privateKey: files.clientKey,
                                       pinnedHostKey: files.pinnedHostKey, vmName: record.name)
        vm.rootSession = try await CloneIdentity(context: context).give(identity, to: vm, agent: agent, templateLogin: templateLogin)
        return vm
    }

    /// A restored x86-64 guest must see a generation ID other than its template's: that
    /// change is what makes its kernel reseed its random number generator.
    func checkGenerationID(inLiveXML xml: String, of record: VMRecord, template state: WarmStateManifest) throws {
        guard record.architecture == .x86_64 else { return }
        guard let now = WarmStart.generationID(inLiveXML: xml) else {
            throw WarmStartError(reason: "the restored domain has no VM generation ID")
        }
        guard now != state.generationID?.lowercased() else {
            throw WarmStartError(reason: "the restored domain has its template's VM generation ID")
        }
    }

    /// The state file, open, and checked before QEMU reads a byte: its size, then its sha256
    /// unless the file is unchanged since a check (its fingerprint: inode, size, change time).
    func openVerified(_ state: WarmStateManifest) throws -> Int32 {
        let store = WarmStart(context: context).store
        let files = store.files(state)
        let fd = open(files.state.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw WarmStartError(reason: "cannot read \(files.state.path): \(String(cString: strerror(errno)))") }
        do {
            var status = stat()
            let size = fstat(fd, &status) == 0 ? UInt64(status.st_size) : nil
            guard size == state.stateBytes else {
                throw WarmStartError(reason: "its state file has \(size.map { "\($0)" } ?? "no") bytes, \(state.stateBytes) were saved")
            }
            if !store.isVerified(files, fd: fd) {
                // Through this descriptor's file (the name may have been replaced meanwhile).
                let sum = try WarmStateStore.checksum(of: URL(fileURLWithPath: "/proc/self/fd/\(fd)"))
                guard sum.sha256 == state.stateSHA256 else {
                    throw WarmStartError(reason: "its state file does not match the checksum it was saved with")
                }
                store.markVerified(files, fd: fd)
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// The domain of a VM restored from `state`: same machine as the template, the VM's own
    /// name, disk, console log, ports, credentials and generation ID, and QEMU waiting for the state.
    func restoreSpec(_ state: WarmStateManifest, coldSpec: DomainSpec) -> DomainSpec {
        var spec = coldSpec
        spec.kernelArguments = state.kernelArguments
        spec.incomingMigration = true
        spec.appendConsoleLog = true
        return spec
    }

    /// Lays out a restored VM's files: its overlay over the template's disk, copies of the
    /// template's UEFI variables (QEMU reopens them), the template's boot log.
    private func prepareFiles(for record: VMRecord, from state: WarmStateManifest, domains: DomainStarter) async throws {
        let files = WarmStart(context: context).store.files(state)
        let vms = context.vms
        try await domains.createOverlay(for: record, backingDisk: files.disk.path, backingFormat: "qcow2")
        if state.hasNVRAM {
            try WarmStart.copy(files.nvram, to: vms.folder(record.id).appendingPathComponent("efivars.fd"), mode: 0o600)
        }
        if (try? WarmStart.copy(files.consoleLog, to: vms.consoleLog(record.id), mode: StateAccess.privateFile)) == nil {
            _ = FileManager.default.createFile(atPath: vms.consoleLog(record.id).path, contents: nil)
        }
    }

    /// Each part of a restore is a stage of the run's report (and of the benchmark's breakdown).
    private func stage(_ name: String) {
        context.stages?.begin("restore-" + name)
        context.logger.debug("restore: \(name)")
    }
}
