// Runs host programs (podman, sfdisk, mkfs.ext4, qemu-img) from argv arrays, never shell strings.

import BootcCore
import Foundation
import Logging
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// What a finished program reported.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    public init(status: Int32, standardOutput: String, standardError: String) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

/// Where a program's stderr goes: captured for error messages, or shown to the user as it comes.
public enum StandardErrorHandling: Sendable {
    case capture
    case passThrough
}

/// Runs programs; a protocol so the pipeline's logic is testable without them.
public protocol ProcessRunner: Sendable {
    func run(_ argv: [String], stdin: String?, stderr: StandardErrorHandling) async throws -> ProcessResult
    /// Runs `producer | consumer` (stdout into stdin, stderr captured); throws when either fails.
    func pipe(_ producer: [String], into consumer: [String]) async throws
}

extension ProcessRunner {
    public func run(_ argv: [String], stdin: String? = nil, stderr: StandardErrorHandling = .capture) async throws -> ProcessResult {
        try await run(argv, stdin: stdin, stderr: stderr)
    }

    /// Runs a program that must succeed; a failure throws with the program's own stderr.
    @discardableResult
    public func check(_ argv: [String], stdin: String? = nil, stderr: StandardErrorHandling = .capture) async throws -> String {
        let result = try await run(argv, stdin: stdin, stderr: stderr)
        guard result.status == 0 else {
            throw ProcessError.failed(argv: argv, status: result.status, standardError: result.standardError)
        }
        return result.standardOutput
    }
}

public enum ProcessError: ToolError {
    case notInstalled(program: String)
    case failed(argv: [String], status: Int32, standardError: String)

    public var description: String {
        switch self {
        case .notInstalled(let program):
            return "\(program) is not installed or not on PATH; install it (scripts/setup.sh installs everything podman-bootc needs)"
        case .failed(let argv, let status, let standardError):
            let detail = standardError.split(separator: "\n").suffix(3).joined(separator: " | ")
            return "\(argv.first ?? "?") failed with status \(status): \(detail.isEmpty ? "(no output)" : detail)"
        }
    }
}

/// Runs programs with swift-subprocess, logging each argv at debug level.
public struct SubprocessRunner: ProcessRunner {
    private let logger: Logger
    private static let outputLimit = 64 << 20

    public init(logger: Logger) { self.logger = logger }

    public func run(_ argv: [String], stdin: String?, stderr: StandardErrorHandling) async throws -> ProcessResult {
        guard let program = argv.first else { preconditionFailure("empty argv") }
        logger.debug("exec", metadata: ["argv": .array(argv.map { .string($0) })])
        let arguments = Arguments(Array(argv.dropFirst()))
        do {
            switch (stdin, stderr) {
            case (let input?, .capture):
                let r = try await Subprocess.run(Self.executable(program), arguments: arguments, input: .string(input),
                                                 output: .string(limit: Self.outputLimit), error: .string(limit: Self.outputLimit))
                return ProcessResult(status: r.terminationStatus.code, standardOutput: r.standardOutput, standardError: r.standardError)
            case (nil, .capture):
                let r = try await Subprocess.run(Self.executable(program), arguments: arguments,
                                                 output: .string(limit: Self.outputLimit), error: .string(limit: Self.outputLimit))
                return ProcessResult(status: r.terminationStatus.code, standardOutput: r.standardOutput, standardError: r.standardError)
            case (let input?, .passThrough):
                let r = try await Subprocess.run(Self.executable(program), arguments: arguments, input: .string(input),
                                                 output: .string(limit: Self.outputLimit), error: .currentStandardError)
                return ProcessResult(status: r.terminationStatus.code, standardOutput: r.standardOutput, standardError: "")
            case (nil, .passThrough):
                let r = try await Subprocess.run(Self.executable(program), arguments: arguments,
                                                 output: .string(limit: Self.outputLimit), error: .currentStandardError)
                return ProcessResult(status: r.terminationStatus.code, standardOutput: r.standardOutput, standardError: "")
            }
        } catch let error as SubprocessError where error.code == .executableNotFound {
            throw ProcessError.notInstalled(program: program)
        }
    }
}

extension SubprocessRunner {
    public func pipe(_ producer: [String], into consumer: [String]) async throws {
        logger.debug("exec", metadata: ["argv": .array(producer.map { .string($0) } + [.string("|")] + consumer.map { .string($0) })])
        let channel = try FileDescriptor.pipe()
        async let produced = Self.runCapturingErrors(producer, input: nil, output: channel.writeEnd)
        async let consumed = Self.runCapturingErrors(consumer, input: channel.readEnd, output: nil)
        let (first, second) = try await (produced, consumed)
        for (argv, result) in [(producer, first), (consumer, second)] where result.status != 0 {
            throw ProcessError.failed(argv: argv, status: result.status, standardError: result.standardError)
        }
    }

    /// One side of a pipeline; the pipe end is closed in this process once the child has it,
    /// so the reader sees end-of-file when the writer exits.
    private static func runCapturingErrors(_ argv: [String], input: FileDescriptor?, output: FileDescriptor?) async throws -> ProcessResult {
        let arguments = Arguments(Array(argv.dropFirst()))
        do {
            switch (input, output) {
            case (let input?, nil):
                let r = try await Subprocess.run(Self.executable(argv[0]), arguments: arguments,
                                                 input: .fileDescriptor(input, closeAfterSpawningProcess: true),
                                                 output: .discarded, error: .string(limit: outputLimit))
                return ProcessResult(status: r.terminationStatus.code, standardOutput: "", standardError: r.standardError)
            case (nil, let output?):
                let r = try await Subprocess.run(Self.executable(argv[0]), arguments: arguments,
                                                 output: .fileDescriptor(output, closeAfterSpawningProcess: true),
                                                 error: .string(limit: outputLimit))
                return ProcessResult(status: r.terminationStatus.code, standardOutput: "", standardError: r.standardError)
            default:
                preconditionFailure("a pipeline side has exactly one pipe end")
            }
        } catch let error as SubprocessError where error.code == .executableNotFound {
            throw ProcessError.notInstalled(program: argv[0])
        }
    }
}

extension SubprocessRunner {
    /// Folders searched after PATH: a user's PATH on Debian has no sbin, yet the disk tools
    /// (sfdisk, mkfs.ext4) live there and work unprivileged on a file.
    static let systemFolders = ["/usr/local/sbin", "/usr/sbin", "/sbin"]

    /// `program` found on PATH, else in the sbin folders; as given when it names a path or
    /// is nowhere (swift-subprocess then reports it missing).
    static func executable(_ program: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> Executable {
        guard !program.contains("/") else { return .path(FilePath(program)) }
        let folders = (path ?? "").split(separator: ":").map(String.init) + systemFolders
        for folder in folders where !folder.isEmpty {
            let candidate = folder + "/" + program
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return .path(FilePath(candidate))
            }
        }
        return .name(program)
    }
}

extension TerminationStatus {
    /// The exit code, or 128 + signal number as shells report it.
    var code: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }
}
