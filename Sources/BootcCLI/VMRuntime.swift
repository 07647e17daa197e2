// A VM's record joined with its live libvirt state: the state always comes from libvirt.

import BootcCore
import Foundation
import Host
import Libvirt
import SSH

enum VMStatus: String, Codable {
    case running, stopped, paused, missing
}

struct VMRuntime: Sendable {
    let record: VMRecord
    let domain: LibvirtDomain?
    let connection: LibvirtConnection

    /// Looks the VM's domain up on the connection it was created on (or `uri` when given).
    static func load(_ record: VMRecord, uri: String?) async throws -> VMRuntime {
        let connectTo = uri ?? record.libvirtURI
        return try await Blocking.run {
            let connection = try LibvirtConnection(uri: connectTo)
            return VMRuntime(record: record, domain: try connection.domain(named: record.domainName), connection: connection)
        }
    }

    var status: VMStatus {
        guard let domain else { return .missing }
        switch (try? domain.state()) ?? .unknown {
        case .running: return .running
        case .paused, .suspended: return .paused
        default: return .stopped
        }
    }
}

extension VMRuntime {
    func requireRunning() throws {
        switch status {
        case .running: return
        case .missing: throw VMStateError.domainMissing(name: record.name)
        default: throw VMStateError.notRunning(name: record.name, status: status)
        }
    }
}

enum VMStateError: ToolError {
    case notRunning(name: String, status: VMStatus)
    case running(name: String)
    case domainMissing(name: String)
    case noConsoleLog(name: String, path: String)
    case consoleClosed(name: String)

    var description: String {
        switch self {
        case .notRunning(let name, let status):
            return "VM \(name) is \(status.rawValue); start it with `podman-bootc start \(name)`"
        case .running(let name):
            return "VM \(name) is running; stop it first (`podman-bootc stop \(name)`) or pass -f"
        case .consoleClosed(let name):
            return "the console of VM \(name) closed: the VM stopped or another client took the console (`podman-bootc list -a` shows its state)"
        case .noConsoleLog(let name, let path):
            return "VM \(name) has no console log yet (\(path) is written once the VM starts); start it with `podman-bootc start \(name)`"
        case .domainMissing(let name):
            return "the libvirt domain of VM \(name) is gone; remove the VM with `podman-bootc rm \(name)`"
        }
    }
}

extension VMStore {
    /// Removes a VM completely: domain (with NVRAM) and folder. Never the cached disk.
    func removeVM(_ runtime: VMRuntime) throws {
        if let domain = runtime.domain { try domain.remove() }
        remove(runtime.record.id)
    }
}
