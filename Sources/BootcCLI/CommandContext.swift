// What every command works with: the process runner, logger, state folders, progress output.

import BootcCore
import Foundation
import Host
import Logging
import Podman

struct CommandContext: Sendable {
    var logger: Logger
    var runner: any ProcessRunner
    var locations: StateLocations
    var progress: ProgressReporter
    var environment: [String: String]
    /// Set while `run` prepares its image: planning may then build the bases it depends on.
    var isBuilding = false
    /// Where `run` records how long each stage took (install, boot, ...).
    var stages: StageTimer?

    var podman: Podman { Podman(runner: runner) }
    var vms: VMStore { VMStore(locations: locations) }

    /// Finds an image in rootful storage; one that only the sudo user's rootless storage
    /// has is copied over (with a notice) rather than reported missing or pulled.
    func findImage(_ reference: String) async throws -> ImageInspection {
        let userStorage = PodmanEndpoint.sudoUserStorage(environment: environment).map { Podman(runner: runner, endpoint: $0) }
        let progress = progress
        return try await podman.findImage(reference, copyingFrom: userStorage) { progress.notice($0) }
    }
    /// Says once, before a VM starts on the system daemon, when /dev/kvm is left as a host
    /// without udev leaves it (libvirtd then takes about a minute per VM start).
    func warnIfKVMDeviceUnusable(libvirtURI: String?) {
        let uri = libvirtURI ?? environment["LIBVIRT_DEFAULT_URI"] ?? (geteuid() == 0 ? "qemu:///system" : "qemu:///session")
        guard uri.hasPrefix("qemu:///system"), let line = KVMDeviceAccess.warning(KVMDeviceAccess.facts()) else { return }
        progress.notice(line)
    }

    static func live(options: GlobalOptions, quiet: Bool) -> CommandContext {
        var logger = Logger(label: "podman-bootc") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
        logger.logLevel = options.debug ? .debug : options.logLevel
        let locations = StateLocations.current()
        // Any command: state an older version loosened is private again before it is used.
        if geteuid() == 0 { locations.secure() }
        return CommandContext(
            logger: logger,
            runner: SubprocessRunner(logger: logger),
            locations: locations,
            progress: ProgressReporter(quiet: quiet),
            environment: ProcessInfo.processInfo.environment)
    }
}
