// `podman-bootc dev`: build, boot and keep a VM, then keep it in step with the build's inputs:
// every edit rebuilds the image, and what changed between the two builds reaches the running
// VM live over SFTP, or, when only a boot applies it, the VM reboots into a fresh install.

import BootcCore
import Foundation
import Host
import Installer
import Synchronization

package struct DevRequest: Sendable {
    package var target: String
    package var config: String?
    package var vm: VMOptions
    package var rules: LiveUpdateRules

    package init(target: String, config: String?, vm: VMOptions, rules: LiveUpdateRules) {
        self.target = target
        self.config = config
        self.vm = vm
        self.rules = rules
    }
}

package enum DevError: ToolError {
    case nothingToWatch(String)

    package var exitCode: Int32 { ExitStatus.usage }
    package var description: String {
        switch self {
        case .nothingToWatch(let target):
            "\(target) has no build definition to watch; dev needs a folder with a Containerfile, a quadlet .build unit, an images.yml image or a reference whose NAME.build unit is installed (use `run` for a plain image)"
        }
    }
}

package struct DevLoop: Sendable {
    let context: PipelineContext

    package init(context: PipelineContext) { self.context = context }

    /// Runs until cancelled (Ctrl-C): the VM stays unless `request.vm.removeOnExit`.
    package func run(_ request: DevRequest) async throws {
        let sequence = RunSequence(context: context)
        let source = try await ImageSource.resolving(request.target, config: request.config)
        let watched = try await watchedPaths(source)
        let watcher = try InputWatcher(paths: watched)
        var options = request.vm
        // Every edit makes a new disk, booted once: saving its state would only cost time.
        if options.warmStart == .auto { options.warmStart = .restoreOnly }

        var image = try await sequence.prepareImage(request.target, config: request.config)
        var imageID = try await self.imageID(image)
        var running = try await boot(image, options, sequence: sequence)
        // The cleanup removes whichever VM runs then (a reboot replaces it).
        let current = CurrentVM(running)
        let context = self.context
        let cleanup = options.removeOnExit ? InterruptCleanup.shared.register { await current.get().remove(context) } : nil
        context.progress.stage("Watching \(watched.joined(separator: ", ")) (\(watcher.watchedFolders) folders); Ctrl-C stops")
        context.output.line("VM \(running.vm.record.name) is running; SSH: \(sequence.sshHint(running.vm))")

        var edit = 0
        // A reboot that removed the VM but could not boot the new one: the next edit boots.
        var vmGone = false
        while let changed = try await nextChange(watcher) {
            edit += 1
            let started = ContinuousClock.now
            context.logger.debug("dev: changed \(changed)")
            do {
                image = try await sequence.prepareImage(request.target, config: request.config)
                let newID = try await self.imageID(image)
                if vmGone {
                    var named = options
                    named.name = running.vm.record.name
                    running = try await boot(image, named, sequence: sequence)
                    (vmGone, imageID) = (false, newID)
                    current.set(running)
                    report(edit, "booted a fresh install; SSH: \(sequence.sshHint(running.vm))", since: started)
                    continue
                }
                guard newID != imageID else {
                    report(edit, "the image did not change", since: started)
                    continue
                }
                let outcome = try await update(&running, from: imageID, to: newID, image: image, options: options,
                                               rules: request.rules, sequence: sequence)
                imageID = newID
                current.set(running)
                report(edit, outcome, since: started)
            } catch is CancellationError {
                break
            } catch {
                if Task.isCancelled { break }
                vmGone = context.vms.load(running.vm.record.id) == nil
                context.progress.notice("edit \(edit) was not applied: \(error)")
                context.output.line("edit \(edit): failed (see above); still watching")
            }
        }
        if let cleanup { await InterruptCleanup.shared.run(cleanup) }
        if !options.removeOnExit {
            context.progress.notice("VM \(running.vm.record.name) keeps running; SSH: \(sequence.sshHint(running.vm))")
        }
    }

    // MARK: Steps

    /// A running VM and its open session.
    struct RunningVM: Sendable {
        var vm: LaunchedVM
        var session: any GuestSession

        func remove(_ context: PipelineContext) async {
            await session.disconnect()
            await VMRemoval.remove(vm.record, domain: vm.domain, store: context.vms, remoteStorage: vm.remoteStorage)
        }
    }

    private func boot(_ image: ImageToInstall, _ options: VMOptions, sequence: RunSequence) async throws -> RunningVM {
        guard let vm = try await sequence.launch(image, options).vm else { preconditionFailure("only cache warm saves without booting") }
        do {
            return RunningVM(vm: vm, session: try await sequence.connect(vm, timeout: options.sshTimeout))
        } catch {
            // A VM that never answered is of no use: removed, kept or not.
            await VMRemoval.remove(vm.record, domain: vm.domain, store: context.vms, remoteStorage: vm.remoteStorage)
            throw error
        }
    }

    /// Applies the change from image `old` to `new` live, or reboots into a fresh install;
    /// returns what it did, for the user.
    private func update(_ running: inout RunningVM, from old: String, to new: String, image: ImageToInstall, options: VMOptions,
                        rules: LiveUpdateRules, sequence: RunSequence) async throws -> String {
        let staging = context.vms.folder(running.vm.record.id).appendingPathComponent("dev-staging")
        try? FileManager.default.removeItem(at: staging)
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: staging) }

        let plan: LiveUpdatePlan
        do {
            plan = rules.plan(try await context.imageTrees.changes(from: old, to: new, staging: staging.path))
        } catch let error as ImageTreeError {
            plan = LiveUpdatePlan(rebootReasons: ["the two builds could not be compared (\(error))"])
        }
        if plan.reboots {
            return try await reboot(&running, image: image, options: options, plan: plan, sequence: sequence)
        }
        guard !plan.operations.isEmpty || plan.systemdCommand != nil else { return "no file changed" }
        let usr = try await apply(plan, to: &running, sequence: sequence)
        var record = running.vm.record
        record.liveImageID = new
        record.liveUpdated = Date()
        if let usr, usr.isTransient { record.liveUsr = usr.rawValue }
        try context.vms.save(record)
        running.vm.record = record
        return summary(plan) + (usr.map { $0.isTransient ? "; " + $0.note : "" } ?? "")
    }

    /// Makes a read-only /usr writable when the edit writes there, writes the files, labels
    /// them, then lets systemd see them. A session that broke is opened again once. Returns
    /// how /usr is writable when the edit wrote there.
    private func apply(_ plan: LiveUpdatePlan, to running: inout RunningVM, sequence: RunSequence) async throws -> UsrWritability? {
        var usr: UsrWritability?
        do {
            if WritableUsr.touchesUsr(plan.operations) { usr = try await WritableUsr.ensure(over: running.session) }
            try await running.session.apply(plan.operations)
        } catch let error where !(error is CancellationError) && !(error is WritableUsrError) {
            context.logger.info("dev: reconnecting after \(error)")
            running.session = try await SSHWaiter(context: context).waitForSSH(running.vm, timeout: .seconds(60), announce: false)
            if WritableUsr.touchesUsr(plan.operations) { usr = try await WritableUsr.ensure(over: running.session) }
            try await running.session.apply(plan.operations)
        }
        try await GuestSELinuxLabels.restore(plan.operations.filter { if case .remove = $0 { false } else { true } }.map(\.path),
                                        over: running.session, logger: context.logger, progress: context.progress)
        if let command = plan.systemdCommand {
            let result = try await running.session.run(command, input: Data())
            if result.status != 0 {
                context.progress.notice("warning: `\(command)` exited with \(result.status): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        return usr
    }

    /// Replaces the VM with one booted from the new image's disk, under the same name.
    private func reboot(_ running: inout RunningVM, image: ImageToInstall, options: VMOptions, plan: LiveUpdatePlan,
                        sequence: RunSequence) async throws -> String {
        let name = running.vm.record.name
        context.progress.stage("Rebooting \(name) into a fresh install: \(plan.rebootReasons.first ?? "")")
        await running.remove(context)
        var options = options
        options.name = name
        running = try await boot(image, options, sequence: sequence)
        let more = plan.rebootReasons.count > 1 ? " (and \(plan.rebootReasons.count - 1) more)" : ""
        return "rebooted into a fresh install, because \(plan.rebootReasons[0])\(more); SSH: \(sequence.sshHint(running.vm))"
    }

    private func summary(_ plan: LiveUpdatePlan) -> String {
        let files = plan.operations.map { operation -> String in
            if case .remove = operation { return "-" + operation.path }
            return operation.path
        }
        let shown = files.prefix(5).joined(separator: " ") + (files.count > 5 ? " and \(files.count - 5) more" : "")
        var text = "applied \(files.count) change\(files.count == 1 ? "" : "s") live"
        if !files.isEmpty { text += " (\(shown))" }
        let restarted = plan.tryRestart + plan.restart
        if !restarted.isEmpty { text += "; restarted \(restarted.joined(separator: ", "))" }
        if !plan.start.isEmpty { text += "; started \(plan.start.joined(separator: ", "))" }
        if !plan.stop.isEmpty { text += "; stopped \(plan.stop.joined(separator: ", "))" }
        return text
    }

    private func report(_ edit: Int, _ what: String, since started: ContinuousClock.Instant) {
        let seconds = (ContinuousClock.now - started).seconds
        context.output.line("edit \(edit): \(what) (\(String(format: "%.1f", seconds)) s)")
    }

    // MARK: Inputs

    /// The files and folders whose edits rebuild the image.
    func watchedPaths(_ source: ImageSource) async throws -> [String] {
        let builder = ImageBuilder(context: context)
        let definition = try await InterruptibleWork.run { try builder.definition(for: source) }
        switch definition {
        case .folder(let folder, _, _):
            return [folder.path]
        case .layers(let project, _, _, _):
            return [URL(fileURLWithPath: project.images.path).deletingLastPathComponent().path]
        case .unit(let unit):
            let unitFolder = URL(fileURLWithPath: unit.path).deletingLastPathComponent()
            var paths = [unit.path]
            // Quadlet's SetWorkingDirectory: a path, or `unit` (the unit's folder); File= likewise.
            if let directory = unit.setWorkingDirectory, directory != "file" {
                paths.append(directory == "unit" ? unitFolder.path : URL(fileURLWithPath: directory, relativeTo: unitFolder).standardizedFileURL.path)
            }
            if let file = unit.file, !file.contains("://") {
                paths.append(URL(fileURLWithPath: file, relativeTo: unitFolder).standardizedFileURL.deletingLastPathComponent().path)
            }
            return Array(Set(paths)).sorted()
        case nil:
            throw DevError.nothingToWatch(source.description)
        }
    }

    private func nextChange(_ watcher: InputWatcher) async throws -> [String]? {
        let cancelled = Atomic<Bool>(false)
        let changed = try await withTaskCancellationHandler {
            try await Blocking.run { try watcher.nextChange(isCancelled: { cancelled.load(ordering: .acquiring) }) }
        } onCancel: {
            cancelled.store(true, ordering: .releasing)
        }
        return Task.isCancelled ? nil : changed
    }

    private func imageID(_ image: ImageToInstall) async throws -> String {
        guard case .reference(let reference) = image, let inspection = try await context.podman.inspect(reference) else {
            throw DevError.nothingToWatch(image.name)
        }
        return inspection.id
    }
}

/// The VM `dev` keeps, as the interrupt cleanup sees it.
private final class CurrentVM: Sendable {
    private let vm: Mutex<DevLoop.RunningVM>
    init(_ vm: DevLoop.RunningVM) { self.vm = Mutex(vm) }
    func set(_ new: DevLoop.RunningVM) { vm.withLock { $0 = new } }
    func get() -> DevLoop.RunningVM { vm.withLock { $0 } }
}

extension ImageSource {
    var description: String {
        switch self {
        case .reference(let reference): reference
        case .containerfileFolder(let folder), .buildUnit(let folder), .rootFilesystem(let folder): folder.path
        case .layerImage(_, let name): name
        }
    }
}
