// `podman-bootc run`: boot an image in a VM and SSH into it (or run one command).

import ArgumentParser
import BootcCore
import Foundation
import Host
import Installer
import Invariance
import SSH

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot a bootable container image in a VM and connect to it over SSH.",
        discussion: """
            Installs IMAGE (from rootful podman storage) into a cached disk, boots a VM from a
            copy-on-write overlay of it and opens an SSH shell, or runs COMMAND and exits with
            its status. One COMMAND word is a shell command line; several are quoted one by one.

            IMAGE may be an image of a layer-generator project (images.yml in the current folder
            or --config; generated and built as localhost/NAME), a folder with a Containerfile
            (built as localhost/<folder name>) or a quadlet .build unit, and a reference whose
            NAME.build unit is installed is checked against it: the image is rebuilt only when its invariance hash (label
            io.0xmax42.invariance-hash) differs from the definition's, or either is missing.

            Examples:
              podman-bootc run localhost/podman-bootc-test:debian
              podman-bootc run --rm localhost/podman-bootc-test:debian -- cat /etc/os-release
              podman-bootc run --rm quay.io/fedora/fedora-bootc:42 -- 'systemctl is-system-running --wait'
              podman-bootc run -B --name web -p 8080:80 localhost/my-image
              podman-bootc run -u dev localhost/my-image      # log in as dev (created when missing)
              podman-bootc run --rm ./my-image-dir -- true     # build (when changed), install, boot
              podman-bootc run --rm --timeout 10m --artifact /var/log/app:out --logs logs \\
                --report junit.xml localhost/my-image -- /usr/bin/run-tests   # CI smoke test
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Remove the VM when the command or shell ends (also on failure or Ctrl-C).")
    var rm = false

    @Flag(name: [.customShort("B"), .long], help: "Start the VM, wait for SSH, and return without connecting.")
    var background = false

    @Flag(name: .shortAndLong, help: "Print no progress, only errors.")
    var quiet = false

    @Flag(help: "Boot for real: neither restore a saved running state (warm start) nor save one.")
    var cold = false

    @Flag(help: "Discard the VM's disk changes whenever it stops (`start` begins from the installed disk again).")
    var transient = false

    @Option(help: "Name of the VM (default: image name and a short ID).")
    var name: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Log in as this user: the VM's key is installed for it (and root); the guest creates it when the image lacks it.", valueName: "user"))
    var user: String = "root"

    @Option(help: "Virtual CPUs.")
    var cpus: Int = 2

    @Option(help: "Memory, e.g. 2G or 4096M.")
    var memory: String = "2G"

    @OptionGroup var disk: DiskOptions

    @Option(name: [.customShort("p"), .long], help: ArgumentHelp("Publish a guest port: [HOST_IP:]HOST_PORT:GUEST_PORT[/udp] (repeatable; HOST_IP defaults to 127.0.0.1).", valueName: "port"))
    var publish: [String] = []

    @Flag(help: "Say whether the cached disk would be reused or reinstalled, and why; boot nothing.")
    var dryRun = false

    @Option(help: "text, or json: --dry-run's answer, or a summary of the run (outcome, exit code, stage timings) on stdout at the end.")
    var format: OutputFormat = .text

    @Option(help: ArgumentHelp("Acceleration: auto, kvm or tcg (also $PODMAN_BOOTC_ACCEL).", valueName: "mode"))
    var accel: String?

    @Option(help: "How long to wait for the VM's SSH server, e.g. 300s or 5m.")
    var sshTimeout: String = "5m"

    @Option(name: .customLong("cloudinit"), help: ArgumentHelp("Boot with a cloud-init NoCloud seed (CD-ROM labelled cidata) made from this folder's user-data, meta-data and network-config.", valueName: "dir"))
    var cloudInit: String?

    @Option(help: "Deadline for the whole run, e.g. 10m: then the VM is destroyed and the exit status is 124.")
    var timeout: String?

    @Option(help: ArgumentHelp("Copy a guest file or folder to HOST_DIR (default: the current folder) over SFTP after the command, also when it failed (repeatable).", valueName: "guest-path[:host-dir]"))
    var artifact: [String] = []

    @Option(help: ArgumentHelp("Save the serial console log and the guest journal into this folder (also when the run fails).", valueName: "dir"))
    var logs: String?

    @Option(help: ArgumentHelp("Write a JUnit XML report (one test case, stage timings) to this file.", valueName: "file"))
    var report: String?

    @Option(help: ArgumentHelp("images.yml of a layer-generator project, for IMAGE given as an image name there (default: ./images.yml).", valueName: "file"))
    var config: String?

    @Argument(help: "The image: a reference in rootful podman storage, an images.yml image name, a folder with a Containerfile, or a quadlet .build unit.")
    var image: String

    @Argument(parsing: .postTerminator, help: "Command to run in the VM instead of a shell.")
    var command: [String] = []

    func validate() throws {
        if rm && background { throw ValidationError("--rm and --background exclude each other: a background VM must outlive the command") }
        if background && !command.isEmpty { throw ValidationError("--background starts the VM without running a command; drop the command or -B") }
        guard cpus >= 1 && cpus <= 256 else { throw ValidationError("--cpus must be between 1 and 256") }
        // Before anything is built: a bad name must not cost a build and an install first.
        if let name, !VMNames.isValid(name) { throw ValidationError(VMError.invalidName(name).description) }
        guard let size = ByteSize(parsing: memory), size >= .mebibytes(256) else {
            throw ValidationError("--memory \(memory.debugDescription) is not a size of at least 256M (e.g. 2G, 4096M)")
        }
        if let timeout, DurationParser.parse(timeout) == nil { throw ValidationError("--timeout \(timeout.debugDescription) is not a duration (e.g. 90s, 10m)") }
        for spec in artifact where ArtifactSpec(spec) == nil {
            throw ValidationError("--artifact \(spec.debugDescription) is not GUEST_PATH[:HOST_DIR] with an absolute guest path (e.g. /var/log/app.log:out)")
        }
        if !artifact.isEmpty && command.isEmpty { throw ValidationError("--artifact needs a command: artifacts are copied after it ends") }
        if DurationParser.parse(sshTimeout) == nil { throw ValidationError("--ssh-timeout \(sshTimeout.debugDescription) is not a duration (e.g. 300s, 5m)") }
        _ = try acceleratorOverride()
        if GuestUser(user) == nil {
            throw ValidationError(GuestUser.invalidNameMessage(user))
        }
        for spec in publish where PortForward(parsing: spec) == nil {
            throw ValidationError("--publish \(spec.debugDescription) is not [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp] with an IPv4 HOST_IP (e.g. 8080:80)")
        }
    }

    /// validate() has checked every value parsed here.
    func launchOptions(image: String) throws -> LaunchOptions {
        LaunchOptions(
            image: image, name: name, cpus: cpus, memoryMiB: Int(ByteSize(parsing: memory)!.mebibytes),
            disk: disk.choices, accelerator: try acceleratorOverride(),
            forwards: publish.compactMap(PortForward.init(parsing:)), transientDisk: transient,
            user: GuestUser(user)!, cloudInit: cloudInit.map { URL(fileURLWithPath: $0).standardizedFileURL }, removeOnExit: rm, libvirtURI: global.libvirtURI, sshTimeout: DurationParser.parse(sshTimeout)!,
            warmStart: cold ? .off : .auto)
    }

    /// What `run` would do: build the image (and why), then reuse or install its disk (and why).
    private func printDryRun(_ plan: ImagePlan, source: ImageSource, launcher: VMLauncher, context: CommandContext) async throws {
        struct Report: Encodable {
            var image: String
            var build: RebuildDecision?
            var key: String?
            var installer: InstallerChoice?
            var reuse: Bool
            var reason: String
            var disk: String?
        }
        let report: Report
        if let decision = plan.decision, decision.build {
            report = Report(image: plan.reference, build: decision, reuse: false,
                            reason: "the image is built first, so its disk is installed for the new image")
        } else {
            var options = try launchOptions(image: plan.reference)
            if case .rootFilesystem(let folder) = source { options.rootFilesystem = folder }
            let disk = try await launcher.plan(options)
            report = Report(image: plan.reference, build: plan.decision, key: disk.key.isEmpty ? nil : disk.key, installer: disk.installer,
                            reuse: disk.reuse, reason: disk.reason, disk: disk.disk)
        }
        switch format {
        case .json: print(try OutputFormat.json(report))
        case .text:
            if let decision = report.build { print("\(decision.build ? "build" : "use") \(plan.reference): \(decision.reason)") }
            print("\(report.reuse ? "reuse" : "install")\(report.installer.map { " (\($0.rawValue))" } ?? ""): \(report.reason)")
        }
    }

    func acceleratorOverride() throws -> Accelerator? { try Accelerator.override(accel) }

    func run() async throws {
        var context = CommandContext.live(options: global, quiet: quiet)
        InterruptCleanup.shared.install()
        let source = ImageSource.resolve(image, config: config)
        if dryRun {
            try await printDryRun(ImageBuilder(context: context).plan(source), source: source, launcher: VMLauncher(context: context), context: context)
            return
        }
        context.warnIfKVMDeviceUnusable(libvirtURI: global.libvirtURI)
        let ci = CIRun(options: CIRun.Options(
            image: image, command: command, timeout: timeout.flatMap(DurationParser.parse),
            artifacts: artifact.compactMap { ArtifactSpec($0) }, logsFolder: logs.map { URL(fileURLWithPath: $0).standardizedFileURL },
            reportFile: report.map { URL(fileURLWithPath: $0).standardizedFileURL }, jsonSummary: format == .json))
        context.stages = ci.timer
        ci.armDeadline()
        do {
            let status = try await boot(source, context: context, ci: ci)
            ci.finish(outcome: status == 0 ? .passed : .failed, exitCode: status,
                      message: status == 0 ? nil : "the command exited with status \(status)")
            if status != 0 { throw ExitCode(status) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            let code = (error as? any ToolError)?.exitCode ?? ExitStatus.toolFailure
            ci.finish(outcome: .error, exitCode: code, message: "\(error)")
            throw error
        }
    }

    /// Build, install, boot, connect, run: returns the command's (or shell's) status.
    private func boot(_ source: ImageSource, context: CommandContext, ci: CIRun) async throws -> Int32 {
        ci.timer.begin("build")
        let reference = try await ImageBuilder(context: context).prepare(source)
        let launcher = VMLauncher(context: context)
        var options = try launchOptions(image: reference)
        if case .rootFilesystem(let folder) = source { options.rootFilesystem = folder }
        let vm = try await launcher.launch(options)

        // Until SSH answers, the VM is removed on failure or interrupt, --rm or not: a VM that
        // never became reachable is of no use, and its console tail was already shown.
        // After that, only a --rm VM is removed (on every exit path, interrupts included).
        let store = context.vms
        let record = vm.record
        let domain = vm.domain
        ci.attach(CIRun.AttachedVM(record: record, domain: domain, store: store, consoleLog: vm.consoleLog))
        let cleanup = InterruptCleanup.shared.register { VMLauncher.remove(record, domain: domain, store: store) }
        defer { InterruptCleanup.shared.run(cleanup) }

        ci.timer.begin("ssh")
        let session: SSHSession
        do {
            let first: SSHSession
            if let ready = vm.rootSession, record.sshUser == "root" {
                // A restored VM: the session that gave it its identity serves the command.
                first = ready
            } else {
                first = try await launcher.waitForSSH(vm, timeout: options.sshTimeout)
            }
            if let pending = vm.pendingWarmSave {
                // The saved state must hold no SSH session: this one ends before the save.
                first.disconnect()
                await WarmStart(context: context).save(vm, pending)
                session = try await launcher.waitForSSH(vm, timeout: options.sshTimeout, announce: false)
            } else {
                session = first
            }
        } catch {
            // The VM is about to be removed: keep what its console said.
            ci.saveConsoleLog(vm.consoleLog)
            throw error
        }
        if !rm { InterruptCleanup.shared.discard(cleanup) }

        if background {
            print(record.name)
            context.progress.stage("VM \(record.name) is running; SSH: ssh -i \(vm.privateKey.path) -p \(record.sshPort) \(record.sshUser)@127.0.0.1")
            return 0
        }
        ci.timer.begin(command.isEmpty ? "shell" : "command")
        let commandLine = command.isEmpty ? nil : RemoteCommand.commandLine(for: command)
        let term = context.environment["TERM"] ?? "xterm-256color"
        let status = try await Blocking.run {
            if let commandLine { return try session.execute(commandLine) }
            return try session.interactiveShell(term: term)
        }
        await ci.collect(from: session, progress: context.progress)
        if !rm {
            context.progress.stage("VM \(record.name) keeps running; SSH: ssh -i \(vm.privateKey.path) -p \(record.sshPort) \(record.sshUser)@127.0.0.1")
        }
        return status
    }
}
