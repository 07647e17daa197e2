// Runs the real podman-bootc binary and observes the host (libvirt, state folders, processes).
// Programs run through swift-subprocess: Foundation's Process on Linux can miss a child's exit.

import Foundation
import Subprocess
import Testing

#if canImport(System)
import System
#else
import SystemPackage
#endif

enum Harness {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let demoImage = ProcessInfo.processInfo.environment["DEMO_IMAGE"] ?? "localhost/podman-bootc-test:debian"
    static let stateDir = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PODMAN_BOOTC_STATE_DIR"] ?? "/var/lib/podman-bootc")

    static var binary: String {
        ProcessInfo.processInfo.environment["PODMAN_BOOTC_BIN"] ?? repository.appendingPathComponent(".build/debug/podman-bootc").path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// The lines podman-bootc reports errors on.
        var errorLines: [Substring] { stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") } }
    }

    static func code(_ status: TerminationStatus) -> Int32 {
        switch status {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }

    /// Runs a program to completion with stdin from /dev/null, capturing its output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) async throws -> Result {
        let result = try await Subprocess.run(.path(FilePath(executable)), arguments: Arguments(arguments),
                                              output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
        return Result(status: code(result.terminationStatus), stdout: result.standardOutput, stderr: result.standardError)
    }

    /// Runs a program with its output discarded: for programs that leave a daemon behind
    /// holding their stdout (tmux new-session).
    @discardableResult
    static func runDetached(_ executable: String, _ arguments: [String]) async throws -> Int32 {
        let result = try await Subprocess.run(.path(FilePath(executable)), arguments: Arguments(arguments),
                                              output: .discarded, error: .discarded)
        return code(result.terminationStatus)
    }

    @discardableResult
    static func podmanBootc(_ arguments: [String], environment: [String: String] = [:]) async throws -> Result {
        let updates = Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), Optional($0.value)) })
        let result = try await Subprocess.run(.path(FilePath(binary)), arguments: Arguments(arguments),
                                              environment: .inherit.updating(updates),
                                              output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
        return Result(status: code(result.terminationStatus), stdout: result.standardOutput, stderr: result.standardError)
    }

    /// podman-bootc with `input` on its stdin (a pipe).
    static func podmanBootc(_ arguments: [String], input: String) async throws -> Result {
        let result = try await Subprocess.run(.path(FilePath(binary)), arguments: Arguments(arguments), input: .string(input),
                                              output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
        return Result(status: code(result.terminationStatus), stdout: result.standardOutput, stderr: result.standardError)
    }

    /// Starts podman-bootc with stderr going to a file, lets `body` watch that file and signal
    /// the process, and returns the exit status.
    static func podmanBootcInterrupted(_ arguments: [String], body: (_ stderr: () -> String, _ pid: pid_t) async throws -> Void) async throws -> Int32 {
        try await podmanBootcWatched(arguments) { _, stderr, pid in
            let text = { stderr() }
            try await body(text, pid)
        }
    }

    /// Starts podman-bootc with stdout and stderr going to files, lets `body` watch them and
    /// signal the process, and returns the exit status.
    static func podmanBootcWatched(_ arguments: [String], body: (_ stdout: () -> String, _ stderr: () -> String, _ pid: pid_t) async throws -> Void) async throws -> Int32 {
        let id = UUID().uuidString
        let outLog = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-stdout-\(id)")
        let errLog = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-stderr-\(id)")
        let outFD = open(outLog.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let errFD = open(errLog.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer {
            try? FileManager.default.removeItem(at: outLog)
            try? FileManager.default.removeItem(at: errLog)
        }
        // The body watches the progress lines, which are off when stderr is not a terminal.
        let result = try await Subprocess.run(
            Configuration(executable: .path(FilePath(binary)), arguments: Arguments(arguments),
                          environment: .inherit.updating(["PODMAN_BOOTC_PROGRESS": "always"])),
            input: .none,
            output: .fileDescriptor(FileDescriptor(rawValue: outFD), closeAfterSpawningProcess: true),
            error: .fileDescriptor(FileDescriptor(rawValue: errFD), closeAfterSpawningProcess: true)
        ) { execution in
            try await body({ (try? String(contentsOf: outLog, encoding: .utf8)) ?? "" },
                           { (try? String(contentsOf: errLog, encoding: .utf8)) ?? "" }, execution.processIdentifier.value)
        }
        return code(result.terminationStatus)
    }

    /// Names of all libvirt domains on qemu:///system (observed with virsh, not with the product).
    static func domains() async throws -> Set<String> {
        let result = try await run("/usr/bin/virsh", ["-c", "qemu:///system", "list", "--all", "--name"])
        return Set(result.stdout.split(separator: "\n").map(String.init))
    }

    static func vmFolders() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: stateDir.appendingPathComponent("vms").path)) ?? [])
    }

    static func cachePartials() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: stateDir.appendingPathComponent("cache").path)) ?? [])
            .filter { $0.hasPrefix(".partial-") }
    }

    static func qemuProcesses() async throws -> [String] {
        try await run("/usr/bin/pgrep", ["-a", "-f", "qemu-system"]).stdout.split(separator: "\n").map(String.init)
    }

    /// Builds a small image from Containerfile text.
    static func buildImage(_ tag: String, containerfile: String, files: [String: String] = [:]) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try containerfile.write(to: dir.appendingPathComponent("Containerfile"), atomically: true, encoding: .utf8)
        for (name, content) in files { try content.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let result = try await run("/usr/bin/podman", ["build", "-q", "-t", tag, dir.path])
        #expect(result.status == 0, "podman build \(tag): \(result.stderr)")
    }

    /// Builds one of the repository's test images (`images/NAME`) on top of the demo image.
    static func buildRepositoryImage(_ name: String, tag: String) async throws {
        let dir = repository.appendingPathComponent("images/\(name)").path
        let result = try await run("/usr/bin/podman", ["build", "-q", "--build-arg", "BASE_IMAGE=\(demoImage)", "-t", tag, dir])
        try #require(result.status == 0, "podman build \(tag): \(result.stderr)")
    }

    /// Polls `condition` every 0.2 s until it holds or `timeout` seconds pass.
    static func waitUntil(timeout: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }
}
