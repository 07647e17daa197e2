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

    var podman: Podman { Podman(runner: runner) }
    var vms: VMStore { VMStore(locations: locations) }

    static func live(options: GlobalOptions, quiet: Bool) -> CommandContext {
        var logger = Logger(label: "podman-bootc") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .trace
            return handler
        }
        logger.logLevel = options.debug ? .debug : options.logLevel
        return CommandContext(
            logger: logger,
            runner: SubprocessRunner(logger: logger),
            locations: StateLocations.current(),
            progress: ProgressReporter(quiet: quiet),
            environment: ProcessInfo.processInfo.environment)
    }
}
