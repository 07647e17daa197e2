// What every stage works with: the ports (processes, hypervisor, guest shell, disks), the
// state folders, the logger and the user-facing output. Commands get the live one; tests
// inject fakes.

import BootcCore
import Foundation
import Host
import Installer
import Logging
import Podman

package struct PipelineContext: Sendable {
    package var logger: Logger
    package var runner: any ProcessRunner
    package var hypervisor: any Hypervisor
    package var guestShell: any GuestShell
    package var disks: any DiskProvider
    /// Reads images' files (kernel, bootc) for `images`; installs go through `disks`.
    package var imageTrees: any ImageTrees
    package var clock: any PipelineClock = SystemClock()
    package var locations: StateLocations
    package var progress: ProgressReporter
    package var output: StandardOutput
    package var environment: [String: String]
    /// Root reads rootful podman storage and uses the system libvirt; a user has rootless
    /// storage (read inside the user namespace) and the session libvirt.
    package var isRoot: Bool
    /// Set while `run` prepares its image: planning may then build the bases it depends on.
    package var isBuilding = false
    /// A finished `--rm` VM's domain is destroyed without waiting for QEMU to exit (the CLI;
    /// tests that check the calls wait).
    package var teardownInBackground = false
    /// Where `run` records how long each stage took (install, boot, ...).
    package var stages: StageTimer?

    package init(logger: Logger, runner: any ProcessRunner, hypervisor: any Hypervisor, guestShell: any GuestShell,
                 disks: any DiskProvider, imageTrees: any ImageTrees, locations: StateLocations, progress: ProgressReporter,
                 output: StandardOutput, environment: [String: String], isRoot: Bool) {
        self.logger = logger
        self.runner = runner
        self.hypervisor = hypervisor
        self.guestShell = guestShell
        self.disks = disks
        self.imageTrees = imageTrees
        self.locations = locations
        self.progress = progress
        self.output = output
        self.environment = environment
        self.isRoot = isRoot
    }

    /// The live context's: `image inspect` answers kept while podman's storage is unchanged.
    package var inspectionMemo: InspectionMemo?

    package var podman: Podman { Podman(runner: runner, memo: inspectionMemo) }
    package var vms: VMStore { VMStore(locations: locations) }

    /// Finds an image in rootful storage; one that only the sudo user's rootless storage
    /// has is copied over (with a notice) rather than reported missing or pulled.
    func findImage(_ reference: String, architecture: Architecture? = nil) async throws -> ImageInspection {
        let userStorage = PodmanEndpoint.sudoUserStorage(environment: environment).map { Podman(runner: runner, endpoint: $0) }
        let progress = progress
        return try await podman.findImage(reference, architecture: architecture, copyingFrom: userStorage) { progress.notice($0) }
    }

    /// Says once, before a VM starts on the system daemon, when /dev/kvm is left as a host
    /// without udev leaves it (libvirtd then takes about a minute per VM start).
    package func warnIfKVMDeviceUnusable(libvirtURI: String?) {
        let uri = libvirtURI ?? environment["LIBVIRT_DEFAULT_URI"] ?? (isRoot ? "qemu:///system" : "qemu:///session")
        guard uri.hasPrefix("qemu:///system"), let line = KVMDeviceAccess.warning(KVMDeviceAccess.facts()) else { return }
        progress.notice(line)
    }

    /// The context of this process: libvirt, libssh2, swift-subprocess, the state folders of
    /// $PODMAN_BOOTC_STATE_DIR (or /var/lib/podman-bootc for root, the XDG folders for a
    /// user). Root commands make state an older version loosened private again before using it.
    package static func live(logLevel: Logger.Level, quiet: Bool, consoleStreams: Bool = false) -> PipelineContext {
        var logger = Logger(label: "podman-bootc") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
        logger.logLevel = logLevel
        let locations = StateLocations.current()
        let isRoot = geteuid() == 0
        if isRoot { locations.secure() }
        let runner = SubprocessRunner(logger: logger)
        let trees = liveImageTrees(runner: runner, locations: locations, logger: logger)
        var context = PipelineContext(
            logger: logger, runner: runner, hypervisor: LibvirtHypervisor(streams: consoleStreams), guestShell: LibSSH2GuestShell(),
            disks: InstalledDisks(runner: runner, cache: locations.diskCache, trees: trees, logger: logger), imageTrees: trees,
            locations: locations, progress: ProgressReporter(quiet: quiet), output: .standard,
            environment: ProcessInfo.processInfo.environment, isRoot: isRoot)
        context.teardownInBackground = true
        context.inspectionMemo = InspectionMemo(file: locations.diskCache.appendingPathComponent(".podman-inspections.json"))
        return context
    }
}

/// Root mounts images here; a user's rootless storage is read inside the user namespace by
/// this same program (`podman unshare podman-bootc image-tree`).
/// Facts are remembered by image ID in the cache's `.facts/`.
func liveImageTrees(runner: any ProcessRunner, locations: StateLocations, logger: Logger) -> any ImageTrees {
    let ledger = locations.diskCache.appendingPathComponent(".mounts")
    let trees: any ImageTrees
    if geteuid() == 0 {
        trees = MountedImageTrees(podman: Podman(runner: runner), runner: runner, ledger: ledger, logger: logger)
    } else {
        let program = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        trees = UserNamespaceImageTrees(runner: runner, helper: ["podman", "unshare", program, ImageTreeHelper.commandName], ledger: ledger,
                                        relay: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
    }
    return RememberedImageTrees(trees, folder: locations.diskCache.appendingPathComponent(".facts"))
}

/// Where data for the user goes (stdout): the terminal, or a buffer in tests.
package final class StandardOutput: Sendable {
    private let sink: @Sendable (Data) -> Void
    /// A terminal shows what it is sent: text from a guest is made printable first.
    package let isTerminal: Bool

    package init(isTerminal: Bool = false, _ sink: @escaping @Sendable (Data) -> Void) {
        self.isTerminal = isTerminal
        self.sink = sink
    }

    package static let standard = StandardOutput(isTerminal: isatty(STDOUT_FILENO) == 1) { FileHandle.standardOutput.write($0) }

    /// Writes `text` and a newline.
    package func line(_ text: String) { sink(Data((text + "\n").utf8)) }
    package func write(_ text: String) { sink(Data(text.utf8)) }
    /// Bytes as they are (a console log need not be UTF-8).
    package func write(_ bytes: Data) { sink(bytes) }
}
