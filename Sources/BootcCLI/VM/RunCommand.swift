// `podman-bootc run`: boot an image in a VM and SSH into it (or run one command).

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

struct RunCommand: PipelineCommand {
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

    @Option(help: "Name of the VM (default: image name and a short ID).", transform: ArgumentValue.vmName)
    var name: String?

    @OptionGroup var shape: VMShapeOptions

    @OptionGroup var disk: DiskOptions

    @Option(name: [.customShort("p"), .long], help: ArgumentHelp("Publish a guest port: [HOST_IP:]HOST_PORT:GUEST_PORT[/udp] (repeatable; HOST_IP defaults to 127.0.0.1).", valueName: "port"),
            transform: ArgumentValue.port)
    var publish: [PortForward] = []

    @Option(name: [.customShort("v"), .customLong("volume")],
            help: ArgumentHelp("Share a host folder with the VM over virtiofs: HOST_DIR:GUEST_DIR[:ro] (repeatable; mounted at GUEST_DIR; no warm start).", valueName: "host-dir:guest-dir[:ro]"),
            transform: ArgumentValue.sharedFolder)
    var volume: [SharedFolder] = []

    @Flag(help: "Say whether the cached disk would be reused or reinstalled, and why; boot nothing.")
    var dryRun = false

    @Option(help: "text, or json: --dry-run's answer, or a summary of the run (outcome, exit code, stage timings) on stdout at the end.")
    var format: OutputFormat = .text

    @Option(name: .customLong("cloudinit"), help: ArgumentHelp("Boot with a cloud-init NoCloud seed (CD-ROM labelled cidata) made from this folder's user-data, meta-data and network-config.", valueName: "dir"),
            transform: ArgumentValue.file)
    var cloudInit: URL?

    @Option(help: ArgumentHelp("How the VM gets its login key, host key and hostname: credentials (systemd credentials; default) or cloud-init (a NoCloud seed, as an exported disk gets them elsewhere; the image must run cloud-init; no warm start).", valueName: "how"))
    var identity: IdentityDelivery = .credentials

    @Option(help: "Deadline for the whole run, e.g. 10m: then the VM is destroyed and the exit status is 124.",
            transform: ArgumentValue.duration(example: "90s, 10m"))
    var timeout: Duration?

    @Option(help: ArgumentHelp("Copy a guest file or folder to HOST_DIR (default: the current folder) over SFTP after the command, also when it failed (repeatable).", valueName: "guest-path[:host-dir]"),
            transform: ArgumentValue.artifact)
    var artifact: [ArtifactSpec] = []

    @Option(help: ArgumentHelp("Save the serial console log and the guest journal into this folder (also when the run fails).", valueName: "dir"),
            transform: ArgumentValue.file)
    var logs: URL?

    @Option(help: ArgumentHelp("Write a JUnit XML report (one test case, stage timings) to this file.", valueName: "file"),
            transform: ArgumentValue.file)
    var report: URL?

    @Option(help: ArgumentHelp("images.yml of a layer-generator project, for IMAGE given as an image name there (default: ./images.yml).", valueName: "file"))
    var config: String?

    @Argument(help: "The image: a reference in rootful podman storage, an images.yml image name, a folder with a Containerfile, or a quadlet .build unit.")
    var image: String

    @Argument(parsing: .postTerminator, help: "Command to run in the VM instead of a shell.")
    var command: [String] = []

    func validate() throws {
        if rm && background { throw ValidationError("--rm and --background exclude each other: a background VM must outlive the command") }
        if background && !command.isEmpty { throw ValidationError("--background starts the VM without running a command; drop the command or -B") }
        if !artifact.isEmpty && command.isEmpty { throw ValidationError("--artifact needs a command: artifacts are copied after it ends") }
        if Set(volume.map(\.guestPath)).count != volume.count { throw ValidationError("-v: two folders share one GUEST_DIR") }
        if volume.count > 8 { throw ValidationError("-v: at most 8 folders; share a common parent folder instead") }
        if !artifact.isEmpty && shape.network == .none {
            throw ValidationError("--artifact copies over SSH (SFTP), and --network none gives the VM no network card; use --network isolated")
        }
        if identity == .cloudInit && cloudInit != nil {
            throw ValidationError("--identity cloud-init writes its own seed and cannot be combined with --cloudinit DIR; put the identity into DIR's user-data or drop one of them")
        }
    }

    func liveContext() -> PipelineContext { global.context(quiet: quiet) }

    /// The request these flags make (validate() has checked them).
    func request() throws -> RunRequest {
        var vm = try shape.vmOptions(disk: disk.choices, libvirtURI: global.libvirtURI, removeOnExit: rm)
        vm.name = name
        vm.forwards = publish
        vm.sharedFolders = volume
        vm.transientDisk = transient
        vm.cloudInit = cloudInit
        vm.identity = identity
        vm.warmStart = cold ? .off : .auto
        return RunRequest(
            target: image, config: config, vm: vm, background: background, command: command,
            ci: CIRun.Options(image: image, command: command, timeout: timeout, artifacts: artifact, logsFolder: logs,
                              reportFile: report, jsonSummary: format == .json))
    }

    func run(_ context: PipelineContext) async throws {
        let sequence = RunSequence(context: context)
        if dryRun {
            let report = try await sequence.dryRun(image, config: config, disk: disk.choices)
            context.output.write(try Renderer.render(report, as: format))
            return
        }
        let status = try await sequence.run(try request())
        if status != 0 { throw ExitCode(ExitStatus.guestCommand(status)) }
    }
}

extension IdentityDelivery: ExpressibleByArgument {}
