// The save step of `run` and `cache warm`: a template VM (booted cold with a throwaway
// identity) starts the guest agent, its running state and disk are saved while it is paused,
// and it runs on and gets the VM's own identity, as a restored VM does.

import BootcCore
import Foundation
import Host
import Libvirt

/// The template did not take the VM's own identity after the save (the run boots again, cold).
struct TemplateIdentityError: ToolError {
    var reason: String
    var description: String { "the VM that saved the warm state did not become its own machine (\(reason))" }
}

struct WarmSave: Sendable {
    let context: PipelineContext

    /// Saves `vm`'s running state (never failing the run: a state that cannot be saved only
    /// costs the next run its warm start), then gives it its own identity. `session` is the
    /// template's first root login. Returns the session to go on with, or nil when
    /// `giveIdentity` is false (`cache warm` removes the VM).
    func save(_ vm: LaunchedVM, _ pending: PendingWarmSave, session: any GuestSession, giveIdentity: Bool = true) async throws -> (any GuestSession)? {
        let warm = WarmStart(context: context)
        let store = warm.store
        let inputs = pending.inputs
        var agent: GuestAgentChannel?
        var saved = false
        // Saved by this call (not found ready): only such a state is discarded on failure below.
        var wroteState = false
        // The template's login, until the save ends it (the state must hold no SSH connection).
        var open: (any GuestSession)? = session
        defer { if !giveIdentity { agent?.close() } }
        if let lock = try? store.lockIfAvailable(inputs.key, diskKey: inputs.diskKey) {
            if case .ready = store.lookup(inputs) {
                saved = true
            } else {
                context.progress.stage("Saving a warm-start state for the next runs")
                agent = await startAgent(in: vm, over: session)
                await session.disconnect()
                open = nil
                do {
                    try await write(vm, pending, agent: agent)
                    saved = true
                    wroteState = true
                } catch {
                    context.progress.notice("warning: no warm-start state was saved (the next run boots cold): \(error)")
                }
            }
            withExtendedLifetime(lock) {}
        } else {
            context.progress.notice("another podman-bootc is saving this warm state; this VM saves none")
        }
        context.logger.debug("save step: state \(saved ? "ready" : "not saved")")
        guard giveIdentity else {
            await open?.disconnect()
            return nil
        }
        do {
            return try await takeOwnIdentity(vm, pending, agent: agent, session: open)
        } catch {
            // Its clones would fail the same way: the state goes too.
            if InterruptCleanup.shared.isInterrupted { throw error }
            if wroteState, case .ready(let state) = store.lookup(inputs) { warm.discard(state) }
            throw TemplateIdentityError(reason: "\(error)")
        }
    }

    /// The template becomes the VM it was booted for: its own keys (the throwaway ones are
    /// deleted from its folder), its machine-id when kept.
    private func takeOwnIdentity(_ vm: LaunchedVM, _ pending: PendingWarmSave, agent: GuestAgentChannel?,
                                 session: (any GuestSession)?) async throws -> any GuestSession {
        defer {
            for file in [pending.template.folder] + pending.template.credentialFiles { try? FileManager.default.removeItem(at: file) }
        }
        let identity = CloneIdentity(context: context)
        if let session {
            // Nothing was saved and the template's login is still open: use it.
            let result = try await session.run(GuestIdentityScript.overSSH, input: identity.input(for: pending.identity))
            guard result.status == 0 else {
                await session.disconnect()
                throw CloneIdentityError(reason: "the guest did not take its own identity (exit \(result.status)): \(result.output)")
            }
            return session
        }
        return try await identity.give(pending.identity, to: vm, agent: agent, templateLogin: pending.template.login(for: vm.record))
    }

    /// Writes the state: the guest paused, its memory to state.qemu, its disk (and UEFI
    /// variables) copied before it runs again, then the template's throwaway keys and the
    /// manifest, which makes the state visible in one rename.
    private func write(_ vm: LaunchedVM, _ pending: PendingWarmSave, agent: GuestAgentChannel?) async throws {
        let store = WarmStart(context: context).store
        let inputs = pending.inputs
        let generationID = WarmStart.generationID(inLiveXML: (try? await vm.domain.xmlDescription()) ?? "")
        let partial = try store.makePartial(inputs.key, diskKey: inputs.diskKey)
        do {
            try await pauseAndSave(vm, pending, into: partial)
            try WarmStart.copy(pending.template.privateKey, to: partial.clientKey, mode: 0o600)
            try WarmStart.copy(pending.template.pinnedHostKey, to: partial.pinnedHostKey, mode: 0o600)
            try? WarmStart.copy(vm.consoleLog, to: partial.consoleLog, mode: StateAccess.privateFile)
            let checksum = try await Blocking.run { try WarmStateStore.checksum(of: partial.state) }
            let written = open(partial.state.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            if written >= 0 {
                store.markVerified(partial, fd: written)
                close(written)
            }
            try store.commit(partial, manifest: WarmStateManifest(
                inputs: inputs, stateBytes: checksum.bytes, stateSHA256: checksum.sha256, templateName: vm.record.name,
                kernelArguments: pending.kernelArguments, oemStrings: pending.oemStrings, credentialNames: [],
                hasNVRAM: pending.hasNVRAM, created: Date(), guestAgent: agent != nil, generationID: generationID))
            context.logger.info("saved warm state \(inputs.key) (\(checksum.bytes) bytes)")
        } catch {
            try? FileManager.default.removeItem(at: partial.folder)
            throw error
        }
    }

    /// The guest is paused for the save (about as long as writing its used memory takes).
    private func pauseAndSave(_ vm: LaunchedVM, _ pending: PendingWarmSave, into partial: WarmStateStore.Files) async throws {
        let vms = context.vms
        let id = vm.record.id
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
                    try WarmStart.copy(vms.overlay(id), to: partial.disk, mode: 0o400)
                    if pending.hasNVRAM {
                        try WarmStart.copy(vms.folder(id).appendingPathComponent("efivars.fd"), to: partial.nvram, mode: 0o600)
                    }
                }
            } catch {
                try? await domain.resumeGuest()
                throw error
            }
            try await domain.resumeGuest()
        }
    }

    /// Starts the guest agent in the template and waits until it listens; nil (restored VMs
    /// then log in over SSH) when the guest cannot run it.
    private func startAgent(in vm: LaunchedVM, over session: any GuestSession) async -> GuestAgentChannel? {
        do {
            let agent = try await GuestAgentChannel.connect(to: vm.domain)
            let started = try await session.run(GuestAgent.startCommand, input: Data(GuestAgent.script.utf8))
            guard started.status == 0 else {
                agent.close()
                throw GuestAgentError(reason: "it did not start (exit \(started.status)): \(started.output)")
            }
            try await Blocking.run { try agent.waitUntilReady(timeout: .seconds(20)) }
            return agent
        } catch {
            context.logger.info("the warm state has no guest agent: \(error)")
            return nil
        }
    }
}
