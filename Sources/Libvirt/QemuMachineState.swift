// A running VM's memory and device state written to, and read from, a file through QEMU's
// own migration over libvirt's monitor passthrough. libvirt's save/restore cannot serve
// here: a save image restores only under its original UUID, so one saved state could never
// back two VMs at once. The file descriptor travels with the command (no path reaches QEMU,
// whose seccomp sandbox forbids spawning helpers anyway).

import BootcCore
import Foundation
internal import CLibvirt

public struct QemuMonitorError: ToolError {
    public var domain: String
    public var command: String
    public var reason: String

    public var description: String { "QEMU of VM \(domain) refused \(command): \(reason)" }
}

extension LibvirtDomain {
    /// Sends one QMP command (JSON) and returns its `return` value; file descriptors in
    /// `files` are passed along (QMP `getfd` picks them up).
    @discardableResult
    public func qmp(_ command: String, arguments: [String: Any]? = nil, passing files: [Int32] = []) throws -> Any {
        var request: [String: Any] = ["execute": command]
        if let arguments { request["arguments"] = arguments }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
        var result: UnsafeMutablePointer<CChar>?
        var fds = files
        let rc = fds.withUnsafeMutableBufferPointer { buffer in
            virDomainQemuMonitorCommandWithFiles(pointer, json, UInt32(buffer.count), buffer.baseAddress,
                                                 nil, nil, &result, 0)
        }
        guard rc == 0, let result else {
            throw QemuMonitorError(domain: name, command: command, reason: LibvirtError.last("monitor").message)
        }
        defer { free(result) }
        let reply = try JSONSerialization.jsonObject(with: Data(String(cString: result).utf8)) as? [String: Any] ?? [:]
        if let error = reply["error"] as? [String: Any] {
            throw QemuMonitorError(domain: name, command: command, reason: error["desc"] as? String ?? "\(error)")
        }
        return reply["return"] ?? [:]
    }

    /// Pauses the guest and writes its complete state to `fd` (left paused: `resumeGuest`
    /// continues it, `destroy` ends it). The guest's disks are flushed and consistent with
    /// the state when this returns.
    public func saveMachineState(to fd: Int32, timeout: Duration = .seconds(120)) throws {
        // QEMU's default migration bandwidth (32 MiB/s) is for networks; a local file takes all.
        try qmp("migrate-set-parameters", arguments: ["max-bandwidth": Int64(1) << 40])
        try qmp("stop")
        try qmp("getfd", arguments: ["fdname": Self.stateFD], passing: [fd])
        try qmp("migrate", arguments: ["uri": "fd:\(Self.stateFD)"])
        try waitForMigration(timeout: timeout)
    }

    /// Loads a state written by `saveMachineState` into a domain started with
    /// `DomainSpec.incomingMigration`; the guest stays paused until `resumeGuest`, so a
    /// caller can still check the file (its checksum) and destroy the domain instead.
    public func loadMachineState(from fd: Int32, timeout: Duration = .seconds(120)) throws {
        try qmp("getfd", arguments: ["fdname": Self.stateFD], passing: [fd])
        try qmp("migrate-incoming", arguments: ["uri": "fd:\(Self.stateFD)"])
        try waitForMigration(timeout: timeout)
    }

    /// Runs the guest's CPUs again (after a save, or once a loaded state is trusted).
    public func resumeGuest() throws {
        try qmp("cont")
    }

    private static let stateFD = "podman-bootc-state"

    /// Polls QMP's migration status: short polls, a migration of an idle guest takes seconds.
    private func waitForMigration(timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard isActive else {
                throw QemuMonitorError(domain: name, command: "migrate", reason: "QEMU exited while the state was transferred (an unreadable or incompatible state)")
            }
            let status: [String: Any]
            do {
                status = try qmp("query-migrate") as? [String: Any] ?? [:]
            } catch {
                // QEMU quits when it cannot load a state; the monitor may fail first.
                usleep(100_000)
                if !isActive { continue }
                throw error
            }
            switch status["status"] as? String {
            case "completed": return
            case "failed", "cancelled":
                throw QemuMonitorError(domain: name, command: "migrate", reason: status["error-desc"] as? String ?? "the state transfer failed")
            default: usleep(20_000)
            }
        }
        throw QemuMonitorError(domain: name, command: "migrate", reason: "the state transfer did not finish within \(timeout)")
    }
}

extension LibvirtConnection {
    /// The hypervisor's version (QEMU's, as major * 1,000,000 + minor * 1,000 + micro) and
    /// libvirt's: a saved machine state is only loaded by the versions that wrote it.
    public func versions() throws -> (hypervisor: UInt, library: UInt) {
        var hypervisor: UInt = 0
        var library: UInt = 0
        guard virConnectGetVersion(pointer, &hypervisor) == 0 else { throw LibvirtError.last("read hypervisor version") }
        guard virConnectGetLibVersion(pointer, &library) == 0 else { throw LibvirtError.last("read libvirt version") }
        return (hypervisor, library)
    }
}
