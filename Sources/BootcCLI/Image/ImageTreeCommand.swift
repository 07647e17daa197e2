// `podman-bootc image-tree` (hidden): the helper a rootless podman-bootc runs inside the
// user's namespace to read an image's files. Not for users: it reads JSON on stdin.

import ArgumentParser
import BootcPipeline
import Foundation
import Logging

struct ImageTreeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ImageTreeHelper.commandName,
        abstract: "podman-bootc's helper inside the user namespace (reads a JSON request on stdin).",
        shouldDisplay: false)

    @Option(help: ArgumentHelp("Log level.", valueName: "level"))
    var logLevel: Logger.Level = .warning

    func run() async throws {
        var logger = Logger(label: "podman-bootc image-tree") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = logLevel
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let answer = try await ImageTreeHelper.serve(input, logger: logger)
        FileHandle.standardOutput.write(answer)
    }
}
