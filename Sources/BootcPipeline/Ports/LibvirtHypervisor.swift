// The live Hypervisor: libvirt. With Blocking, the only place libvirt's blocking calls leave
// the cooperative pool.

import BootcCore
import Foundation
import Synchronization
import Libvirt

package struct LibvirtHypervisor: Hypervisor {
    /// Console streams need libvirt's event loop, registered before the connection opens.
    let streams: Bool

    package init(streams: Bool = false) { self.streams = streams }

    package func connect(uri: String?) async throws -> any HypervisorConnection {
        if streams { LibvirtEventLoop.registered }
        return LiveConnection(connection: try await Blocking.run { try LibvirtConnection(uri: uri) })
    }
}

private struct LiveConnection: HypervisorConnection {
    let connection: LibvirtConnection

    var uri: String { connection.uri }

    func versions() async throws -> (hypervisor: UInt, library: UInt) {
        let connection = connection
        let versions = try await Blocking.run { try connection.versions() }
        return versions
    }

    func domain(named name: String) async throws -> (any VirtualMachineDomain)? {
        let connection = connection
        return try await Blocking.run { try connection.domain(named: name) }.map(LiveDomain.init)
    }

    func createTransient(xml: String, autoDestroy: Bool) async throws -> any VirtualMachineDomain {
        let connection = connection
        return LiveDomain(domain: try await Self.mappingPortErrors { try connection.createTransient(xml: xml, autoDestroy: autoDestroy) })
    }

    func define(xml: String) async throws -> any VirtualMachineDomain {
        let connection = connection
        return LiveDomain(domain: try await Blocking.run { try connection.define(xml: xml) })
    }

    func offersKVM(for architecture: Architecture) async -> Bool {
        let connection = connection
        return (try? await Blocking.run { connection.supports(architecture: architecture.rawValue, virtType: "kvm") }) ?? false
    }

    func storagePool(named name: String, path: @escaping @Sendable () async throws -> String) async throws -> any HostStoragePool {
        let connection = connection
        if let pool = try await Blocking.run({ try LibvirtStoragePool.named(name, on: connection) }) {
            try await Blocking.run { try pool.ensureActive() }
            return LiveStoragePool(pool: pool, folder: try await Blocking.run { try pool.targetPath() })
        }
        let folder = try await path()
        let pool = try await Blocking.run { try LibvirtStoragePool.defineDirectory(name: name, path: folder, on: connection) }
        return LiveStoragePool(pool: pool, folder: folder)
    }

    /// QEMU's "Could not set up host forwarding rule" becomes HostPortTaken.
    static func mappingPortErrors<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await Blocking.run(body)
        } catch let error as LibvirtError where error.message.contains("host forwarding") {
            throw HostPortTaken(detail: error.description)
        }
    }
}

private struct LiveDomain: VirtualMachineDomain {
    let domain: LibvirtDomain

    var name: String { domain.name }

    func isActive() async -> Bool {
        let domain = domain
        return (try? await Blocking.run { domain.isActive }) ?? false
    }

    func power() async -> DomainPower {
        let domain = domain
        switch (try? await Blocking.run { try domain.state() }) ?? .unknown {
        case .running: return .running
        case .paused, .suspended: return .paused
        default: return .stopped
        }
    }

    func start() async throws {
        let domain = domain
        try await LiveConnection.mappingPortErrors { try domain.start() }
    }

    func shutdown() async throws {
        let domain = domain
        try await Blocking.run { try domain.shutdown() }
    }

    func destroy() async throws {
        let domain = domain
        try await Blocking.run { try domain.destroy() }
    }

    func remove() async throws {
        let domain = domain
        try await Blocking.run { try domain.remove() }
    }

    func xmlDescription() async throws -> String {
        let domain = domain
        return try await Blocking.run { try domain.xmlDescription() }
    }

    func metadata() async -> String? {
        let domain = domain
        return (try? await Blocking.run { domain.podmanBootcMetadata() }) ?? nil
    }

    func saveMachineState(to fd: Int32) async throws {
        try await destroyedOnCancel { try $0.saveMachineState(to: fd) }
    }

    func loadMachineState(from fd: Int32) async throws {
        try await destroyedOnCancel { try $0.loadMachineState(from: fd) }
    }

    /// A state transfer can take minutes: a cancelled task ends it by destroying the domain.
    private func destroyedOnCancel(_ body: @escaping @Sendable (LibvirtDomain) throws -> Void) async throws {
        let domain = domain
        try await withTaskCancellationHandler {
            try await Blocking.run { try body(domain) }
        } onCancel: {
            try? domain.destroy()
        }
        try Task.checkCancellation()
    }

    func resumeGuest() async throws {
        let domain = domain
        try await Blocking.run { try domain.resumeGuest() }
    }

    func guestAgentCommand(_ json: String, timeoutSeconds: Int32) async throws -> String {
        let domain = domain
        return try await Blocking.run { try domain.guestAgentCommand(json, timeoutSeconds: timeoutSeconds) }
    }

    func attachConsole(input: Int32, output: Int32, escape: UInt8, force: Bool) async throws -> ConsoleOutcome {
        let domain = domain
        // Cancellation writes to a pipe the console's event loop watches.
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw CocoaError(.fileReadUnknown) }
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }
        let (cancelRead, cancelWrite) = (pipeEnds[0], pipeEnds[1])
        let end = try await withTaskCancellationHandler {
            try await Blocking.run {
                try domain.attachConsole(input: input, output: output, escape: escape, force: force, cancel: cancelRead)
            }
        } onCancel: {
            _ = write(cancelWrite, "x", 1)
        }
        switch end {
        case .detached: return .detached
        case .inputClosed: return .inputClosed
        case .closed: return .closed
        case .cancelled: throw CancellationError()
        }
    }
}

private struct LiveStoragePool: HostStoragePool {
    let pool: LibvirtStoragePool
    let folder: String

    func volumePath(_ name: String) async throws -> String? {
        let pool = pool
        return try await Blocking.run { try pool.volume(named: name)?.path() }
    }

    func upload(_ file: URL, as name: String, format: String) async throws -> String {
        let pool = pool
        // A disk upload takes minutes: a cancelled run (Ctrl-C, --timeout) ends it mid-stream.
        let cancelled = Mutex(false)
        return try await withTaskCancellationHandler {
            try await upload(file, as: name, format: format, pool: pool) { cancelled.withLock { $0 } }
        } onCancel: {
            cancelled.withLock { $0 = true }
        }
    }

    private func upload(_ file: URL, as name: String, format: String, pool: LibvirtStoragePool,
                        isCancelled: @escaping @Sendable () -> Bool) async throws -> String {
        try await Blocking.run {
            let fd = open(file.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: file.path]) }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSFilePathErrorKey: file.path]) }
            try? pool.volume(named: name)?.delete()
            let volume = try pool.createVolume(StorageVolumeSpec(name: name, capacityBytes: UInt64(info.st_size), format: format))
            do {
                try volume.upload(from: fd, isCancelled: isCancelled)
            } catch {
                try? volume.delete()
                throw error
            }
            return try volume.path()
        }
    }

    func createOverlay(_ name: String, backing: String, capacityBytes: UInt64) async throws -> String {
        let pool = pool
        return try await Blocking.run {
            try? pool.volume(named: name)?.delete()
            let spec = StorageVolumeSpec(name: name, capacityBytes: capacityBytes, format: "qcow2", backingPath: backing, backingFormat: "raw")
            return try pool.createVolume(spec).path()
        }
    }

    func delete(_ name: String) async throws {
        let pool = pool
        try await Blocking.run { try pool.volume(named: name)?.delete() }
    }

    func volumeNames() async throws -> [String] {
        let pool = pool
        return try await Blocking.run {
            try pool.refresh()
            return try pool.volumeNames()
        }
    }

    func read(_ name: String, from offset: UInt64, limit: UInt64) async throws -> Data? {
        let pool = pool
        return try await Blocking.run {
            try pool.refresh()
            guard let volume = try pool.volume(named: name) else { return nil }
            let size = try volume.capacity()
            guard size > offset else { return Data() }
            return try volume.download(offset: offset, length: min(limit, size - offset))
        }
    }
}
