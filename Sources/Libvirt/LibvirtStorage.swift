// libvirt's storage API: a directory pool on the daemon's host and its volumes, created,
// filled (uploaded through a libvirt stream) and read back without any path of ours being
// visible to, or needed by, that host.

import BootcCore
import Foundation
internal import CLibvirt

/// What a new volume is: rendered to libvirt's volume XML (every value escaped).
public struct StorageVolumeSpec: Sendable, Equatable {
    public var name: String
    public var capacityBytes: UInt64
    /// raw or qcow2.
    public var format: String
    public var mode: Int
    /// A qcow2 overlay's backing volume (its path on the pool's host) and that volume's format.
    public var backingPath: String?
    public var backingFormat: String?

    public init(name: String, capacityBytes: UInt64, format: String, mode: Int = 0o600,
                backingPath: String? = nil, backingFormat: String? = nil) {
        self.name = name
        self.capacityBytes = capacityBytes
        self.format = format
        self.mode = mode
        self.backingPath = backingPath
        self.backingFormat = backingFormat
    }

    public func render() -> String {
        let e = XMLText.escaped
        var x = "<volume>\n  <name>\(e(name))</name>\n"
        x += "  <capacity unit='bytes'>\(capacityBytes)</capacity>\n"
        // raw volumes are created sparse: nothing is allocated before data is uploaded.
        if format == "raw" { x += "  <allocation unit='bytes'>0</allocation>\n" }
        x += "  <target>\n    <format type='\(e(format))'/>\n"
        x += "    <permissions>\n      <mode>\(String(mode, radix: 8))</mode>\n    </permissions>\n  </target>\n"
        if let backingPath {
            x += "  <backingStore>\n    <path>\(e(backingPath))</path>\n"
            x += "    <format type='\(e(backingFormat ?? "raw"))'/>\n  </backingStore>\n"
        }
        x += "</volume>\n"
        return x
    }

    /// The XML of a directory pool at `path` (only its owner may list it; QEMU's user needs to
    /// pass through to the volumes libvirt gives it).
    public static func directoryPoolXML(name: String, path: String) -> String {
        let e = XMLText.escaped
        return "<pool type='dir'>\n  <name>\(e(name))</name>\n  <target>\n    <path>\(e(path))</path>\n"
            + "    <permissions>\n      <mode>0711</mode>\n    </permissions>\n  </target>\n</pool>\n"
    }
}

// Sendable as LibvirtConnection is: an immutable libvirt handle, thread-safe in libvirt itself.
public final class LibvirtStoragePool: @unchecked Sendable {
    // libvirt objects are thread-safe; the pointer never leaves this module.
    let pointer: virStoragePoolPtr
    let connection: LibvirtConnection

    init(pointer: virStoragePoolPtr, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit { virStoragePoolFree(pointer) }

    /// The pool called `name`, or nil when the daemon has none.
    public static func named(_ name: String, on connection: LibvirtConnection) throws -> LibvirtStoragePool? {
        guard let pool = virStoragePoolLookupByName(connection.pointer, name) else {
            let error = LibvirtError.last("look up storage pool \(name)")
            if error.code == Int32(VIR_ERR_NO_STORAGE_POOL.rawValue) { return nil }
            throw error
        }
        return LibvirtStoragePool(pointer: pool, connection: connection)
    }

    /// Defines a directory pool, creates its folder, starts it and marks it autostarted (it
    /// outlives this process: later runs reuse what it holds).
    public static func defineDirectory(name: String, path: String, on connection: LibvirtConnection) throws -> LibvirtStoragePool {
        guard let pointer = virStoragePoolDefineXML(connection.pointer, StorageVolumeSpec.directoryPoolXML(name: name, path: path), 0) else {
            throw LibvirtError.last("define storage pool \(name) at \(path)")
        }
        let pool = LibvirtStoragePool(pointer: pointer, connection: connection)
        do {
            guard virStoragePoolBuild(pointer, 0) == 0 else { throw LibvirtError.last("create the folder of storage pool \(name) (\(path))") }
            try pool.ensureActive()
            _ = virStoragePoolSetAutostart(pointer, 1)
        } catch {
            virStoragePoolUndefine(pointer)
            throw error
        }
        return pool
    }

    public var name: String { virStoragePoolGetName(pointer).map { String(cString: $0) } ?? "" }

    public func ensureActive() throws {
        guard virStoragePoolIsActive(pointer) != 1 else { return }
        guard virStoragePoolCreate(pointer, 0) == 0 else { throw LibvirtError.last("start storage pool \(name)") }
    }

    /// Re-reads the pool's folder (volumes grown or added behind libvirt's back, such as a
    /// console log virtlogd writes).
    public func refresh() throws {
        guard virStoragePoolRefresh(pointer, 0) == 0 else { throw LibvirtError.last("refresh storage pool \(name)") }
    }

    /// The pool's folder on its host.
    public func targetPath() throws -> String {
        guard let xml = virStoragePoolGetXMLDesc(pointer, 0) else { throw LibvirtError.last("read storage pool \(name)") }
        defer { free(xml) }
        let text = String(cString: xml)
        guard let target = text.range(of: "<target>"),
              let start = text.range(of: "<path>", range: target.upperBound..<text.endIndex),
              let end = text.range(of: "</path>", range: start.upperBound..<text.endIndex) else {
            throw LibvirtError(operation: "read storage pool \(name)", message: "its XML names no target path", code: -1)
        }
        return XMLText.unescaped(String(text[start.upperBound..<end.lowerBound]))
    }

    public func volume(named name: String) throws -> LibvirtStorageVolume? {
        guard let volume = virStorageVolLookupByName(pointer, name) else {
            let error = LibvirtError.last("look up volume \(name)")
            if error.code == Int32(VIR_ERR_NO_STORAGE_VOL.rawValue) { return nil }
            throw error
        }
        return LibvirtStorageVolume(pointer: volume, connection: connection)
    }

    public func createVolume(_ spec: StorageVolumeSpec) throws -> LibvirtStorageVolume {
        guard let volume = virStorageVolCreateXML(pointer, spec.render(), 0) else {
            throw LibvirtError.last("create volume \(spec.name) in storage pool \(name)")
        }
        return LibvirtStorageVolume(pointer: volume, connection: connection)
    }

    public func volumeNames() throws -> [String] {
        var list: UnsafeMutablePointer<virStorageVolPtr?>?
        let count = virStoragePoolListAllVolumes(pointer, &list, 0)
        guard count >= 0, let list else { throw LibvirtError.last("list the volumes of storage pool \(name)") }
        defer { free(list) }
        return (0..<Int(count)).compactMap { index in
            guard let volume = list[index] else { return nil }
            defer { virStorageVolFree(volume) }
            return virStorageVolGetName(volume).map { String(cString: $0) }
        }
    }
}

public final class LibvirtStorageVolume: @unchecked Sendable {
    let pointer: virStorageVolPtr
    let connection: LibvirtConnection

    init(pointer: virStorageVolPtr, connection: LibvirtConnection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit { virStorageVolFree(pointer) }

    public var name: String { virStorageVolGetName(pointer).map { String(cString: $0) } ?? "" }

    /// The volume's path on the pool's host (what a domain XML there names).
    public func path() throws -> String {
        guard let path = virStorageVolGetPath(pointer) else { throw LibvirtError.last("read the path of volume \(name)") }
        defer { free(path) }
        return String(cString: path)
    }

    /// Its size as the pool's host sees it (after the pool's last refresh).
    public func capacity() throws -> UInt64 {
        var info = virStorageVolInfo()
        guard virStorageVolGetInfo(pointer, &info) == 0 else { throw LibvirtError.last("read volume \(name)") }
        return info.capacity
    }

    public func delete() throws {
        guard virStorageVolDelete(pointer, 0) == 0 else { throw LibvirtError.last("delete volume \(name)") }
    }

    /// Sends the file open at `fd` (from its start) into the volume. Holes are sent as holes
    /// (a sparse stream): an installed disk is mostly empty, and its empty part never crosses
    /// the wire. Blocking.
    public func upload(from fd: Int32, isCancelled: @escaping @Sendable () -> Bool = { false }) throws {
        guard let stream = virStreamNew(connection.pointer, 0) else { throw LibvirtError.last("create a stream") }
        defer { virStreamFree(stream) }
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw LibvirtError(operation: "upload to volume \(name)", message: "cannot seek the source file", code: -1) }
        guard virStorageVolUpload(pointer, stream, 0, 0, UInt32(VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM.rawValue)) == 0 else {
            throw LibvirtError.last("upload to volume \(name)")
        }
        let source = UploadSource(fd: fd, isCancelled: isCancelled)
        let sent = withExtendedLifetime(source) {
            virStreamSparseSendAll(stream, { _, data, count, opaque in
                let source = Unmanaged<UploadSource>.fromOpaque(opaque!).takeUnretainedValue()
                // Asked between chunks: a cancelled run (Ctrl-C, --timeout) ends the stream.
                if source.isCancelled() { return -1 }
                while true {
                    let got = read(source.fd, data, count)
                    if got < 0 && errno == EINTR { continue }
                    return Int32(got)
                }
            }, { _, inData, length, opaque in
                SparseFile.section(Unmanaged<UploadSource>.fromOpaque(opaque!).takeUnretainedValue().fd, inData: inData, length: length)
            }, { _, length, opaque in
                lseek(Unmanaged<UploadSource>.fromOpaque(opaque!).takeUnretainedValue().fd, off_t(length), SEEK_CUR) < 0 ? -1 : 0
            }, Unmanaged.passUnretained(source).toOpaque())
        }
        guard sent == 0 else {
            let error = source.isCancelled()
                ? LibvirtError(operation: "upload to volume \(name)", message: "cancelled", code: -1)
                : LibvirtError.last("upload to volume \(name)")
            virStreamAbort(stream)
            throw error
        }
        guard virStreamFinish(stream) == 0 else { throw LibvirtError.last("finish the upload to volume \(name)") }
    }

    /// Reads up to `length` bytes from `offset` (a console log from where the last read ended).
    /// Blocking.
    public func download(offset: UInt64, length: UInt64) throws -> Data {
        guard let stream = virStreamNew(connection.pointer, 0) else { throw LibvirtError.last("create a stream") }
        defer { virStreamFree(stream) }
        guard virStorageVolDownload(pointer, stream, offset, length, 0) == 0 else {
            throw LibvirtError.last("download volume \(name)")
        }
        var data = Data()
        var buffer = [CChar](repeating: 0, count: 1 << 16)
        while true {
            let got = virStreamRecv(stream, &buffer, buffer.count)
            if got == 0 { break }
            guard got > 0 else {
                let error = LibvirtError.last("download volume \(name)")
                virStreamAbort(stream)
                throw error
            }
            buffer.withUnsafeBytes { data.append(contentsOf: $0.prefix(Int(got))) }
        }
        guard virStreamFinish(stream) == 0 else { throw LibvirtError.last("finish the download of volume \(name)") }
        return data
    }
}

/// Where data and holes of a sparse file begin (SEEK_DATA/SEEK_HOLE), for a sparse stream.
enum SparseFile {
    // Linux's values; glibc declares them only under _GNU_SOURCE, which Swift does not set.
    static let seekData: Int32 = 3
    static let seekHole: Int32 = 4

    /// From the current offset: whether it is in data, and how long that data or hole runs.
    /// The offset is left where it was.
    static func section(_ fd: Int32, inData: UnsafeMutablePointer<Int32>?, length: UnsafeMutablePointer<Int64>?) -> Int32 {
        guard let inData, let length else { return -1 }
        let current = lseek(fd, 0, SEEK_CUR)
        guard current >= 0 else { return -1 }
        defer { lseek(fd, current, SEEK_SET) }
        let data = lseek(fd, current, seekData)
        if data < 0 {
            guard errno == ENXIO else { return -1 }
            // A hole up to the end of the file (or the end itself).
            let end = lseek(fd, 0, SEEK_END)
            guard end >= 0 else { return -1 }
            inData.pointee = 0
            length.pointee = Int64(end - current)
            return 0
        }
        if data > current {
            inData.pointee = 0
            length.pointee = Int64(data - current)
            return 0
        }
        let hole = lseek(fd, current, seekHole)
        guard hole >= 0 else { return -1 }
        inData.pointee = 1
        length.pointee = Int64(hole - current)
        return 0
    }
}

/// What an upload's stream callbacks read from: the source file and whether to stop.
private final class UploadSource {
    let fd: Int32
    let isCancelled: @Sendable () -> Bool

    init(fd: Int32, isCancelled: @escaping @Sendable () -> Bool) {
        self.fd = fd
        self.isCancelled = isCancelled
    }
}
