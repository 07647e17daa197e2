// The root command: subcommands, and the one place errors become a message and an exit code.

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

public struct PodmanBootc: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "podman-bootc",
        abstract: "Boot bootable container images as VMs and SSH into them.",
        version: ToolVersion.current,
        subcommands: [RunCommand.self, ListCommand.self, SSHCommand.self, StopCommand.self, StartCommand.self,
                      RmCommand.self, DevCommand.self, InspectCommand.self, LogsCommand.self, ConsoleCommand.self, ImagesCommand.self, CacheCommand.self, InvarianceCommand.self, LayersCommand.self,
                      ImageTreeCommand.self, ExportCommand.self])

    public init() {}

    /// Parses, runs, and exits: `Error: ...` once on stderr and the documented exit code. The
    /// command runs supervised: a signal cancels it, and it exits 128+N once it has unwound.
    public static func runAndExit() async -> Never {
        UserFiles.restrictUmask()
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exitNow(report(error))
        }
        let parsed = ParsedCommand(command: command)
        let ending = await CommandSupervisor.run {
            if var asyncCommand = parsed.command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                // A synchronous command (hashing, validating a project) never sees its task
                // cancelled: off the task, a signal ends the wait for it.
                try await InterruptibleWork.run {
                    var command = parsed.command
                    try command.run()
                }
            }
        }
        switch ending {
        case .finished(.success): exitNow(0)
        case .finished(.failure(let error)): exitNow(report(error))
        case .interrupted(let signal): exitNow(128 + signal)
        }
    }

    /// Prints what went wrong (once) and returns the exit code it maps to.
    private static func report(_ error: any Error) -> Int32 {
        switch error {
        case let error as any ToolError:
            // Errors quote guests, images and files: nothing in them may steer the terminal.
            FileHandle.standardError.write(Data("Error: \(TerminalText.printable("\(error)"))\n".utf8))
            return error.exitCode
        case let exit as ExitCode:
            return exit.rawValue
        case let error as CocoaError:
            FileHandle.standardError.write(Data("Error: \(TerminalText.printable(error.localizedDescription))\n".utf8))
            return ExitStatus.toolFailure
        default:
            if let code = exitCodeForParserError(error) {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                return code
            }
            FileHandle.standardError.write(Data("Error: \(TerminalText.printable("\(error)"))\n".utf8))
            return ExitStatus.toolFailure
        }
    }

    /// Argument parser errors keep its own texts (help, usage) and get EX_USAGE unless they
    /// are help or version requests.
    private static func exitCodeForParserError(_ error: Error) -> Int32? {
        let code = exitCode(for: error).rawValue
        if code == 0 { return 0 }
        return ExitStatus.usage
    }
}

/// The parsed command, handed to the task that runs it (and used by that task only).
private struct ParsedCommand: @unchecked Sendable {
    var command: any ParsableCommand
}
