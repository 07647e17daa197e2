// A VM's record joined with its live hypervisor state: the state always comes from libvirt.

import BootcCore
import Foundation
import Host

package enum VMStatus: String, Codable, Sendable {
    case running, stopped, paused, missing
}

struct VMRuntime: Sendable {
    let record: VMRecord
    let domain: (any VirtualMachineDomain)?
    let connection: any HypervisorConnection

    /// Looks the VM's domain up on the connection it was created on (or `uri` when given).
    static func load(_ record: VMRecord, uri: String?, hypervisor: any Hypervisor) async throws -> VMRuntime {
        let connection = try await hypervisor.connect(uri: uri ?? record.libvirtURI)
        return VMRuntime(record: record, domain: try await connection.domain(named: record.domainName), connection: connection)
    }

    func status() async -> VMStatus {
        guard let domain else { return .missing }
        switch await domain.power() {
        case .running: return .running
        case .paused: return .paused
        case .stopped: return .stopped
        }
    }

    /// The domain of a running VM, or the error that says what to do.
    func requireRunning() async throws -> any VirtualMachineDomain {
        let status = await status()
        guard let domain else { throw VMStateError.domainMissing(name: record.name) }
        guard status == .running else { throw VMStateError.notRunning(name: record.name, status: status) }
        return domain
    }

    func requireDomain() throws -> any VirtualMachineDomain {
        guard let domain else { throw VMStateError.domainMissing(name: record.name) }
        return domain
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
