// VM state folders: vm.json, the overlay disk, the console log, and the SSH key (in ssh/, 0700).

import BootcCore
import Foundation
import Synchronization

public struct VMStore: Sendable {
    public let locations: StateLocations
    static let recordName = "vm.json"

    public init(locations: StateLocations) { self.locations = locations }

    public func folder(_ id: String) -> URL { locations.vm(id) }
    public func privateKey(_ id: String) -> URL { folder(id).appendingPathComponent("ssh/id_ed25519") }
    public func pinnedHostKey(_ id: String) -> URL { folder(id).appendingPathComponent("ssh/host_key") }
    public func overlay(_ id: String) -> URL { folder(id).appendingPathComponent("disk.qcow2") }
    public func consoleLog(_ id: String) -> URL { folder(id).appendingPathComponent("console.log") }
    public func cloudInitSeed(_ id: String) -> URL { folder(id).appendingPathComponent("cidata.iso") }
    /// Credentials QEMU reads through fw_cfg: outside ssh/ because QEMU's user must reach them.
    public func credentialFile(_ id: String, name: String) -> URL {
        folder(id).appendingPathComponent("credentials").appendingPathComponent(name)
    }

    /// Writes a credential file, 0600 from its first byte (libvirt hands it to QEMU's user
    /// only while the VM runs).
    public func writeCredential(_ id: String, name: String, value: Data) throws {
        let url = credentialFile(id, name: name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        chmod(url.deletingLastPathComponent().path, StateAccess.passThroughFolder)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path]) }
        defer { close(fd) }
        let written = value.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == value.count else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
    }

    /// Creates the VM's folder (0711: QEMU's user reaches the overlay and console log through it)
    /// and its private ssh/ folder (0700). A `--rm` VM's owner lock is taken before its record
    /// exists, so no other run's sweep can take the new VM for an abandoned one.
    public func create(_ record: VMRecord) throws {
        let dir = folder(record.id)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("ssh"), withIntermediateDirectories: true)
        chmod(dir.path, StateAccess.passThroughFolder)
        chmod(dir.appendingPathComponent("ssh").path, StateAccess.privateFolder)
        if record.removeOnExit { try holdOwnerLock(record.id) }
        try save(record)
    }

    public func save(_ record: VMRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let url = folder(record.id).appendingPathComponent(Self.recordName)
        try encoder.encode(record).write(to: url, options: .atomic)
    }

    /// The VM's record, or nil when it is missing, unreadable, or holds values podman-bootc
    /// never writes (a port over 65535, a name with a slash): such a folder is shown by
    /// nothing and removed by nothing but `rm` of the whole state.
    public func load(_ id: String) -> VMRecord? {
        guard ConfinedFolder.isSafeName(id) else { return nil }
        let url = folder(id).appendingPathComponent(Self.recordName)
        guard let data = try? Data(contentsOf: url), data.count <= 1 << 20 else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let record = try? decoder.decode(VMRecord.self, from: data), record.id == id, record.isSane else { return nil }
        return record
    }

    /// The lock a `--rm` VM's process holds for as long as it lives: the kernel drops it when
    /// the process dies, however it dies, and it means the same across containers sharing
    /// the state folder (a PID does not).
    func holdOwnerLock(_ id: String) throws {
        let lock = try FileLock(path: folder(id).appendingPathComponent(Self.ownerLockName).path)
        Self.heldOwnerLocks.withLock { $0.append(lock) }
    }

    private static let ownerLockName = "owner.lock"
    private static let heldOwnerLocks = Mutex<[FileLock]>([])

    private func ownerIsGone(_ id: String) -> Bool {
        (try? FileLock.ifAvailable(path: folder(id).appendingPathComponent(Self.ownerLockName).path)) != nil
    }

    public func all() -> [VMRecord] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: locations.vms.path)) ?? []
        return ids.compactMap(load).sorted { $0.created < $1.created }
    }

    public func remove(_ id: String) {
        try? FileManager.default.removeItem(at: folder(id))
    }

    /// `--rm` VMs whose owning process is gone (killed before it could clean up). libvirt
    /// already destroyed their auto-destroy domains; their folders are what is left.
    public func abandonedTransientVMs() -> [VMRecord] {
        all().filter { $0.removeOnExit && ownerIsGone($0.id) }
    }

    /// Folders without any vm.json, older than a minute and with no live owner (a run killed
    /// while creating one). A vm.json that does not decode is never a reason to delete.
    public func incompleteFolders() -> [String] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: locations.vms.path)) ?? []
        return ids.filter { id in
            guard ConfinedFolder.isSafeName(id),
                  access(folder(id).appendingPathComponent(Self.recordName).path, F_OK) != 0, ownerIsGone(id) else { return false }
            let attributes = try? FileManager.default.attributesOfItem(atPath: folder(id).path)
            let modified = attributes?[.modificationDate] as? Date ?? .distantPast
            return Date().timeIntervalSince(modified) > 60
        }
    }
}
