// The one sequence every command that boots or installs goes through:
// resolve -> build -> install -> boot -> connect -> command. `run`, `run --dry-run`,
// `cache add` and `cache warm` are its prefixes.

import BootcCore
import Invariance
import Foundation
import Host
import Installer
import Podman

package struct RunSequence: Sendable {
    package let context: PipelineContext

    package init(context: PipelineContext) { self.context = context }

    // MARK: Resolve and build

    /// Resolves the target and builds it when its invariance decision says so (bases first).
    package func prepareImage(_ target: String, config: String?) async throws -> ImageToInstall {
        var building = context
        building.isBuilding = true
        return try await ImageBuilder(context: building).prepare(try await ImageSource.resolving(target, config: config))
    }

    /// What `run` would do: build the image (and why), then reuse or install its disk (and
    /// why). Changes nothing.
    package func dryRun(_ target: String, config: String?, disk: DiskChoices) async throws -> DryRunReport {
        let plan = try await ImageBuilder(context: context).plan(try await ImageSource.resolving(target, config: config))
        if let decision = plan.decision, decision.build {
            return DryRunReport(image: plan.reference, build: decision, reuse: false,
                                reason: "the image is built first, so its disk is installed for the new image")
        }
        let disk = try await DiskStage(context: context).plan(plan.image, choices: disk)
        return DryRunReport(image: plan.reference, build: plan.decision, key: disk.key.isEmpty ? nil : disk.key,
                            installer: disk.installer, reuse: disk.reuse, reason: disk.reason, disk: disk.disk)
    }

    // MARK: Install

    /// `cache add`: resolve, build, install; returns the cache key.
    package func installDisk(_ target: String, config: String?, choices: DiskChoices) async throws -> String {
        try context.locations.prepare()
        let image = try await prepareImage(target, config: config)
        let stage = DiskStage(context: context)
        return try await stage.install(try await stage.request(for: image, choices: choices), choices: choices).key
    }

    // MARK: Boot

    /// A user's QEMU cannot bind ports below the kernel's unprivileged start (1024 by default):
    /// say so before anything is installed or started.
    func checkPublishedPorts(_ forwards: [PortForward]) throws {
        guard !context.isRoot else { return }
        let setting = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding: .utf8)
        let lowest = setting.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 1024
        if let forward = forwards.first(where: { $0.hostPort < lowest }) {
            throw VMError.privilegedPort(forward.hostPort, lowestAllowed: lowest)
        }
    }

    /// Installs (or finds cached) the image's disk and launches a VM from it.
    func launch(_ image: ImageToInstall, _ options: VMOptions) async throws -> LaunchResult {
        try context.locations.prepare()
        let launcher = VMLauncher(context: context)
        // A killed run's folders go first, whatever this run meets next.
        await launcher.removeAbandonedVMs(connection: nil)
        if let name = options.name, !VMNames.isValid(name) { throw VMError.invalidName(name) }
        try checkPublishedPorts(options.forwards)
        if !options.sharedFolders.isEmpty, (try RemoteHost.of(options.libvirtURI ?? context.environment["LIBVIRT_DEFAULT_URI"])) != nil {
            throw VMError.sharedFolderOnRemoteHost
        }
        if options.network == .none {
            if !options.user.isRoot { throw VMError.needsNetwork("-u \(options.user.name)") }
            if !options.forwards.isEmpty { throw VMError.needsNetwork("-p") }
            if options.identity == .cloudInit { throw VMError.needsNetwork("--identity cloud-init") }
        }

        context.progress.stage("Resolving \(image.name)")
        let disks = DiskStage(context: context)
        let request = try await disks.request(for: image, choices: options.disk)
        // Connect before installing, so an unreachable libvirt fails fast and writes nothing.
        let connection = try await context.hypervisor.connect(uri: options.libvirtURI)
        await launcher.removeAbandonedVMs(connection: connection)
        // The seed first: a folder without user-data fails before anything is installed.
        var seed: URL?
        if let folder = options.cloudInit {
            seed = try await CloudInitSeed(runner: context.runner, folder: context.locations.diskCache.appendingPathComponent("cloud-init")).iso(for: folder)
        }
        context.stages?.begin("install")
        let manifest = try await disks.install(request, choices: options.disk)
        return try await launcher.launch(image, options, manifest: manifest, architecture: request.architecture,
                                         imageID: request.image.id, connection: connection, seed: seed)
    }

    /// `cache warm`: boots the image once and saves its running state; returns the state's key
    /// (nothing boots when a usable state exists).
    package func warm(_ target: String, config: String?, options: VMOptions) async throws -> String {
        var options = options
        options.removeOnExit = true
        options.warmStart = .saveOnly
        let image = try await prepareImage(target, config: config)
        let vm: LaunchedVM
        let pendingSave: PendingWarmSave?
        switch try await launch(image, options) {
        case .alreadyWarm(let key):
            context.progress.stage("A warm state is ready already")
            return key
        case .restored:
            preconditionFailure("a save-only launch never restores")
        case .booted(let booted, let save):
            (vm, pendingSave) = (booted, save)
        }
        return try await withVMRemoved(vm, always: true) {
            guard let pending = pendingSave else {
                await $0.disconnect()
                throw WarmStartError(reason: "this VM cannot be warm-started")
            }
            _ = try await WarmSave(context: context).save(vm, pending, session: $0, giveIdentity: false)
            guard case .ready = WarmStart(context: context).store.lookup(pending.inputs) else {
                throw WarmStartError(reason: "the running state of \(image.name) was not saved (see the warning above)")
            }
            return pending.inputs.key
        } connect: {
            try await connect(vm, timeout: options.sshTimeout, template: pendingSave?.template)
        }
    }

    // MARK: Run

    /// `run`: the whole sequence; returns the command's (or shell's) exit status. The CI
    /// outputs (reports, artifacts, logs, deadline) are written whatever happens.
    package func run(_ request: RunRequest) async throws -> Int32 {
        context.warnIfKVMDeviceUnusable(libvirtURI: request.vm.libvirtURI)
        let ci = CIRun(options: request.ci, output: context.output)
        var context = self.context
        context.stages = ci.timer
        let sequence = RunSequence(context: context)
        do {
            let status = try await Deadline.race(request.ci.timeout, clock: context.clock) { try await sequence.boot(request, ci: ci) }
            ci.finish(outcome: status == 0 ? .passed : .failed, exitCode: status,
                      message: status == 0 ? nil : "the command exited with status \(status)")
            return status
        } catch let deadline as DeadlineExceeded {
            // The VM is destroyed, kept or not; its console log is kept (with --logs).
            if let vm = ci.currentVM {
                // A --rm VM is gone already (its log saved on the way); a kept one goes now.
                if FileManager.default.fileExists(atPath: vm.consoleLog.path) { ci.saveConsoleLog(vm.consoleLog) }
                await VMRemoval.remove(vm.record, domain: vm.domain, store: vm.store, remoteStorage: vm.remoteStorage)
            }
            ci.finish(outcome: .timedOut, exitCode: deadline.exitCode, message: deadline.description)
            throw deadline
        } catch {
            let code = (error as? any ToolError)?.exitCode ?? ExitStatus.toolFailure
            ci.finish(outcome: .error, exitCode: code, message: "\(error)")
            throw error
        }
    }

    private func boot(_ request: RunRequest, ci: CIRun) async throws -> Int32 {
        ci.timer.begin("build")
        let image = try await prepareImage(request.target, config: request.config)
        var options = request.vm
        // Only root's commands go to the agent: a `-u USER` command logs in over SSH at once,
        // so that user's keys must be in place before the restore returns.
        options.agentOnlyAtFirst = options.removeOnExit && !request.background && !request.command.isEmpty && options.user == .root
        do {
            return try await bootAndRun(image, options, request: request, ci: ci)
        } catch let refused as TemplateIdentityError {
            // The template (already removed, its state discarded) would have been handed out
            // with its throwaway identity: boot once more, for real, saving nothing.
            context.progress.notice("\(refused); booting again without warm start")
            options.warmStart = .off
            return try await bootAndRun(image, options, request: request, ci: ci)
        }
    }

    private func bootAndRun(_ image: ImageToInstall, _ options: VMOptions, request: RunRequest, ci: CIRun) async throws -> Int32 {
        let launched = try await launch(image, options)
        guard let vm = launched.vm else { preconditionFailure("only cache warm saves without booting") }
        let pendingSave = launched.pendingSave
        let record = vm.record
        ci.attach(CIRun.AttachedVM(record: record, domain: vm.domain, store: context.vms, consoleLog: vm.consoleLog,
                                    remoteStorage: vm.remoteStorage))

        // Until SSH answers, the VM is removed on failure or interrupt, --rm or not: a VM that
        // never became reachable is of no use, and its console tail was already shown.
        // After that, only a --rm VM is removed (on every exit path, interrupts included).
        let consoleLog = vm.consoleLog
        return try await withVMRemoved(vm, always: request.vm.removeOnExit, keep: { ci.saveConsoleLog(consoleLog) }) { session in
            if request.background {
                context.output.line(record.name)
                context.progress.stage("VM \(record.name) is running; SSH: \(sshHint(vm))")
                return 0
            }
            ci.timer.begin(request.command.isEmpty ? "shell" : "command")
            let status: Int32
            if request.command.isEmpty {
                status = try await session.interactiveShell(term: context.environment["TERM"] ?? "xterm-256color")
            } else {
                status = try await session.execute(RemoteCommand.commandLine(for: request.command))
            }
            await ci.collect(from: session, progress: context.progress)
            if !request.vm.removeOnExit {
                context.progress.stage("VM \(record.name) keeps running; SSH: \(sshHint(vm))")
            }
            return status
        } connect: {
            ci.timer.begin("ssh")
            do {
                let first = try await connect(vm, timeout: request.vm.sshTimeout, template: pendingSave?.template)
                guard let pendingSave else { return first }
                return try await saveWarmState(vm, pendingSave, after: first, timeout: request.vm.sshTimeout)
            } catch {
                // The VM is about to be removed: keep what its console said.
                ci.saveConsoleLog(vm.consoleLog)
                throw error
            }
        }
    }

    /// The first usable session: a restored VM's identity session, a template's login with
    /// its throwaway key, else a fresh login.
    func connect(_ vm: LaunchedVM, timeout: Duration, template: TemplateLogin? = nil) async throws -> any GuestSession {
        let session = try await firstSession(vm, timeout: timeout, template: template)
        try await SharedFolderMounts.mount(for: vm.record, over: session, context: context)
        return session
    }

    private func firstSession(_ vm: LaunchedVM, timeout: Duration, template: TemplateLogin?) async throws -> any GuestSession {
        if vm.record.network == NetworkMode.none {
            return try await QemuGuestAgentWaiter(context: context).wait(vm, timeout: timeout)
        }
        let waiter = SSHWaiter(context: context)
        if let template {
            return try await waiter.waitForSSH(vm, timeout: timeout, login: template.login(for: vm.record))
        }
        return try await sessionAsItsUser(vm, root: vm.rootSession, timeout: timeout)
    }

    /// The save step: a template's state is saved, then the VM gets its own identity.
    private func saveWarmState(_ vm: LaunchedVM, _ pending: PendingWarmSave, after first: any GuestSession,
                               timeout: Duration) async throws -> any GuestSession {
        context.stages?.begin("save-state")
        let root = try await WarmSave(context: context).save(vm, pending, session: first)
        return try await sessionAsItsUser(vm, root: root, timeout: timeout)
    }

    /// `root` (an identity session, verified and logged in) serves a root VM; another user
    /// logs in with the VM's own key.
    private func sessionAsItsUser(_ vm: LaunchedVM, root: (any GuestSession)?, timeout: Duration) async throws -> any GuestSession {
        if let root, vm.record.sshUser == "root" { return root }
        await root?.disconnect()
        return try await SSHWaiter(context: context).waitForSSH(vm, timeout: timeout)
    }

    /// Runs `connect`, then `body` with its session. The VM is removed when connecting fails
    /// or is interrupted; after that only when `always` (also on interrupt).
    /// `keep` runs first when the VM is removed because the run was interrupted (the console
    /// log goes with the VM's folder).
    private func withVMRemoved<T: Sendable>(_ vm: LaunchedVM, always: Bool, keep: @escaping @Sendable () -> Void = {},
                                            _ body: (any GuestSession) async throws -> T,
                                            connect: () async throws -> any GuestSession) async throws -> T {
        let store = context.vms
        let record = vm.record
        let domain = vm.domain
        let remoteStorage = vm.remoteStorage
        let cleanup = InterruptCleanup.shared.register {
            if InterruptCleanup.shared.isInterrupted { keep() }
            await VMRemoval.remove(record, domain: domain, store: store, remoteStorage: remoteStorage)
        }
        let session: any GuestSession
        do {
            session = try await connect()
        } catch {
            await InterruptCleanup.shared.run(cleanup)
            throw error
        }
        guard always else {
            InterruptCleanup.shared.discard(cleanup)
            return try await body(session)
        }
        do {
            let result = try await body(session)
            await removeAfterUse(vm, cleanup: cleanup)
            return result
        } catch {
            await removeAfterUse(vm, cleanup: cleanup)
            throw error
        }
    }

    /// Removes a VM whose work is done. The user need not wait for QEMU to exit: a `--rm`
    /// domain is transient and auto-destroyed by libvirt when this process's connection
    /// closes, so (unless the caller waits for teardowns) its files go now and the destroy
    /// runs on; if this process exits or is killed first, libvirt finishes it.
    private func removeAfterUse(_ vm: LaunchedVM, cleanup: Int) async {
        context.stages?.begin("teardown")
        // A remote VM's volumes go after its domain: nothing on that host cleans them up.
        guard context.teardownInBackground, vm.record.removeOnExit, vm.remoteStorage == nil,
              !InterruptCleanup.shared.isInterrupted else {
            await InterruptCleanup.shared.run(cleanup)
            return
        }
        InterruptCleanup.shared.discard(cleanup)
        context.vms.remove(vm.record.id)
        let domain = vm.domain
        Task.detached { try? await domain.remove() }
    }

    func sshHint(_ vm: LaunchedVM) -> String {
        if vm.record.network == NetworkMode.none {
            return "none (no network card): podman-bootc ssh \(vm.record.name) -- COMMAND runs it through the guest agent"
        }
        if let jump = try? RemoteHost.of(vm.record.libvirtURI)?.jump {
            let hop = jump.port == 22 ? "\(jump.user)@\(jump.host)" : "\(jump.user)@\(jump.host):\(jump.port)"
            return "podman-bootc ssh \(vm.record.name) (or: ssh -J \(hop) -i \(vm.privateKey.path) -p \(vm.record.sshPort) \(vm.record.sshUser)@127.0.0.1)"
        }
        return "ssh -i \(vm.privateKey.path) -p \(vm.record.sshPort) \(vm.record.sshUser)@127.0.0.1"
    }
}
