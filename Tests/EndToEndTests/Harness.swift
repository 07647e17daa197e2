// Runs the real podman-bootc binary and observes the host (libvirt, state folders, processes).

import Foundation
import Testing

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

    /// Runs a program to completion with stdin from /dev/null and no output captured: for
    /// programs that leave a daemon behind holding their stdout (tmux new-session).
    static func runDetached(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs a program to completion with stdin from /dev/null.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 600) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes concurrently so a chatty process cannot block on a full pipe.
        let outData = Locked(Data()), errData = Locked(Data())
        let group = DispatchGroup()
        for (pipe, sink) in [(out, outData), (err, errData)] {
            group.enter()
            DispatchQueue.global().async {
                sink.set(pipe.fileHandleForReading.readDataToEndOfFile())
                group.leave()
            }
        }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            Issue.record("\(executable) \(arguments) did not finish within \(timeout)s")
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData.get(), as: UTF8.self),
                      stderr: String(decoding: errData.get(), as: UTF8.self))
    }

    static func podmanBootc(_ arguments: [String], timeout: TimeInterval = 600) throws -> Result {
        try run(binary, arguments, timeout: timeout)
    }

    static func sh(_ script: String, timeout: TimeInterval = 600) throws -> Result {
        try run("/bin/sh", ["-c", script], timeout: timeout)
    }

    /// Names of all libvirt domains on qemu:///system (observed with virsh, not with the product).
    static func domains() throws -> Set<String> {
        let result = try run("/usr/bin/virsh", ["-c", "qemu:///system", "list", "--all", "--name"])
        return Set(result.stdout.split(separator: "\n").map(String.init))
    }

    static func vmFolders() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: stateDir.appendingPathComponent("vms").path)) ?? [])
    }

    static func cachePartials() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: stateDir.appendingPathComponent("cache").path)) ?? [])
            .filter { $0.hasPrefix(".partial-") }
    }

    static func qemuProcesses() throws -> [String] {
        try run("/usr/bin/pgrep", ["-a", "-f", "qemu-system"]).stdout.split(separator: "\n").map(String.init)
    }

    /// Builds a small image from Containerfile text, once per test run.
    static func buildImage(_ tag: String, containerfile: String, files: [String: String] = [:]) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try containerfile.write(to: dir.appendingPathComponent("Containerfile"), atomically: true, encoding: .utf8)
        for (name, content) in files { try content.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let result = try run("/usr/bin/podman", ["build", "-q", "-t", tag, dir.path])
        #expect(result.status == 0, "podman build \(tag): \(result.stderr)")
    }

    /// Polls `condition` every 0.2 s until it holds or `timeout` passes.
    static func waitUntil(timeout: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return try condition()
    }
}

final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ newValue: T) { lock.withLock { value = newValue } }
}
