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
                      RmCommand.self, InspectCommand.self, LogsCommand.self, ConsoleCommand.self, ImagesCommand.self, CacheCommand.self, InvarianceCommand.self, LayersCommand.self])

    public init() {}

    /// Parses, runs, and exits: `Error: ...` once on stderr and the documented exit code.
    public static func runAndExit() async -> Never {
        UserFiles.restrictUmask()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            InterruptCleanup.shared.finish(0)
        } catch let error as ToolError {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            InterruptCleanup.shared.finish(error.exitCode)
        } catch let error as ExitCode {
            InterruptCleanup.shared.finish(error.rawValue)
        } catch let error as CocoaError {
            FileHandle.standardError.write(Data("Error: \(error.localizedDescription)\n".utf8))
            InterruptCleanup.shared.finish(ExitStatus.toolFailure)
        } catch {
            if let code = exitCodeForParserError(error) {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                InterruptCleanup.shared.finish(code)
            }
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            InterruptCleanup.shared.finish(ExitStatus.toolFailure)
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
