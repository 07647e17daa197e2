// The hypervisor as the pipeline sees it: connections, domains, their machine state. The
// live adapter is libvirt (LibvirtHypervisor); tests use a fake.

import BootcCore
import Foundation

/// Opens connections to a hypervisor daemon.
package protocol Hypervisor: Sendable {
    /// `uri` nil: $LIBVIRT_DEFAULT_URI, else qemu:///system for root, qemu:///session otherwise.
    func connect(uri: String?) async throws -> any HypervisorConnection
}

package protocol HypervisorConnection: Sendable {
    /// The URI actually connected to (recorded with each VM).
    var uri: String { get }
    /// (hypervisor, library) versions: a saved machine state loads only into the versions that wrote it.
    func versions() async throws -> (hypervisor: UInt, library: UInt)
    func domain(named name: String) async throws -> (any VirtualMachineDomain)?
    /// Starts a domain that is gone when it stops; with `autoDestroy`, also when this connection closes.
    func createTransient(xml: String, autoDestroy: Bool) async throws -> any VirtualMachineDomain
    /// Defines a persistent domain (not started).
    func define(xml: String) async throws -> any VirtualMachineDomain
    /// Whether the daemon's host can run `architecture` guests under KVM (a remote host's
    /// accelerator is its own, not this machine's).
    func offersKVM(for architecture: Architecture) async -> Bool
    /// The daemon's directory pool `name`, defined at the folder `path` gives when missing.
    func storagePool(named name: String, path: @escaping @Sendable () async throws -> String) async throws -> any HostStoragePool
}

/// A folder of files (volumes) on the hypervisor's host, filled and read through the daemon:
/// where a remote host's VMs keep their disks, credentials and logs.
package protocol HostStoragePool: Sendable {
    /// The pool's folder on its host.
    var folder: String { get }
    /// The volume's path on the host, nil when there is none.
    func volumePath(_ name: String) async throws -> String?
    /// Creates the volume (its size and `format` from `file`'s) and uploads `file` into it;
    /// returns its path on the host.
    func upload(_ file: URL, as name: String, format: String) async throws -> String
    /// A qcow2 volume over `backing` (a raw volume's path); returns its path.
    func createOverlay(_ name: String, backing: String, capacityBytes: UInt64) async throws -> String
    func delete(_ name: String) async throws
    func volumeNames() async throws -> [String]
    /// Up to `limit` bytes of the volume from `offset` (after a refresh: a file that grows);
    /// nil when there is no such volume.
    func read(_ name: String, from offset: UInt64, limit: UInt64) async throws -> Data?
}

/// Whether a domain runs, as the pipeline distinguishes it.
package enum DomainPower: Sendable, Equatable {
    case running, paused, stopped
}

/// How an attached console session ended.
package enum ConsoleOutcome: Sendable, Equatable {
    case detached, inputClosed, closed
}

package protocol VirtualMachineDomain: Sendable {
    var name: String { get }
    func isActive() async -> Bool
    func power() async -> DomainPower
    func start() async throws
    /// ACPI shutdown request (returns at once).
    func shutdown() async throws
    /// Powers off at once.
    func destroy() async throws
    /// Destroys (when running) and undefines, NVRAM included; a domain already gone is no error.
    func remove() async throws
    func xmlDescription() async throws -> String
    /// The <podman-bootc:...> metadata element, if any.
    func metadata() async -> String?
    /// Pauses the guest and writes its machine state to `fd` (the guest stays paused). A
    /// cancelled task destroys the domain to end the transfer.
    func saveMachineState(to fd: Int32) async throws
    /// Loads a machine state into a domain started waiting for one (cancelled: destroys it).
    func loadMachineState(from fd: Int32) async throws
    func resumeGuest() async throws
    /// A QEMU guest agent command (JSON) and its JSON answer, waiting at most `timeoutSeconds`.
    func guestAgentCommand(_ json: String, timeoutSeconds: Int32) async throws -> String
    /// The console on these descriptors until the escape byte, the input's end, the console's
    /// close, or the task's cancellation (which throws CancellationError).
    func attachConsole(input: Int32, output: Int32, escape: UInt8, force: Bool) async throws -> ConsoleOutcome
}

/// QEMU could not bind a forwarded host port (taken between choosing it and QEMU starting):
/// the caller chooses another port and tries again.
package struct HostPortTaken: Error, CustomStringConvertible {
    package var detail: String
    package init(detail: String) { self.detail = detail }
    package var description: String { detail }
}
