// A VM's record joined with its live hypervisor state: the state always comes from libvirt.

import BootcCore
import Foundation
import Host

package enum VMStatus: String, Codable, Sendable {
    case running, stopped, paused, missing
}

struct VMRuntime: Sendable {
    let record: VMRecord
    /// The VM's own domain; nil when there is none, or when the domain of that name is not
    /// this VM's (`foreignDomain`): podman-bootc never acts on a domain it did not define.
    let domain: (any VirtualMachineDomain)?
    let connection: any HypervisorConnection
    var foreignDomain = false

    /// Looks the VM's domain up on the connection it was created on (or `uri` when given).
    static func load(_ record: VMRecord, uri: String?, hypervisor: any Hypervisor) async throws -> VMRuntime {
        let connection = try await hypervisor.connect(uri: uri ?? record.libvirtURI)
        guard let domain = try await connection.domain(named: record.domainName) else {
            return VMRuntime(record: record, domain: nil, connection: connection)
        }
        guard try await DomainOwnership.belongs(domain, to: record) else {
            return VMRuntime(record: record, domain: nil, connection: connection, foreignDomain: true)
        }
        return VMRuntime(record: record, domain: domain, connection: connection)
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
        let domain = try requireDomain()
        guard status == .running else { throw VMStateError.notRunning(name: record.name, status: status) }
        return domain
    }

    func requireDomain() throws -> any VirtualMachineDomain {
        if foreignDomain { throw VMStateError.foreignDomain(name: record.name, domain: record.domainName, uri: connection.uri) }
        guard let domain else { throw VMStateError.domainMissing(name: record.name) }
        return domain
    }
}

enum VMStateError: ToolError {
    case notRunning(name: String, status: VMStatus)
    case running(name: String)
    case domainMissing(name: String)
    case foreignDomain(name: String, domain: String, uri: String)
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
        case .foreignDomain(let name, let domain, let uri):
            return "the libvirt domain \(domain) on \(uri) is not VM \(name)'s (podman-bootc did not define it; its metadata has another or no podman-bootc id), so podman-bootc leaves it alone; remove or rename that domain with virsh if it is yours, then try again"
        case .domainMissing(let name):
            return "the libvirt domain of VM \(name) is gone; remove the VM with `podman-bootc rm \(name)`"
        }
    }
}
