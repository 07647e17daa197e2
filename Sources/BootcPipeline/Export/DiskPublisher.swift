// Puts export's finished disk at `-o` without a partial file under a guessable name and
// without replacing anything: a hard link when the scratch folder shares the filesystem,
// else a sparse copy into an unnamed file (O_TMPFILE) linked in when complete. Every step is
// relative to the output's folder, opened once.

import Export
import Foundation
import Host

enum DiskPublisher {
    // Linux's values; glibc declares them only under _GNU_SOURCE, which Swift does not set.
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4
    private static let tmpFile: Int32 = 0o20000000 | O_DIRECTORY

    static func publish(_ disk: URL, at output: URL) throws {
        let name = output.lastPathComponent
        guard ConfinedFolder.isSafeName(name) else { throw ExportError.outputFolderMissing(output.path) }
        let folder = open(output.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { throw ExportError.outputFolderMissing(output.path) }
        defer { close(folder) }
        if linkat(AT_FDCWD, disk.path, folder, name, 0) == 0 { return }
        guard errno == EXDEV || errno == EPERM || errno == ENOTSUP else { throw failure(output) }

        let source = try FileDescriptorHandle.openRegularFile(disk.path)
        var info = stat()
        guard fstat(source.fd, &info) == 0 else { throw failure(output) }
        let mode = mode_t(info.st_mode & 0o777)
        let unnamed = openat(folder, ".", tmpFile | O_WRONLY | O_CLOEXEC, mode)
        if unnamed >= 0 {
            defer { close(unnamed) }
            try copySparse(from: source.fd, to: unnamed, size: info.st_size, output: output)
            fchmod(unnamed, mode)
            if linkat(AT_FDCWD, "/proc/self/fd/\(unnamed)", folder, name, AT_SYMLINK_FOLLOW) == 0 { return }
            guard errno == ENOENT || errno == EPERM else { throw failure(output) }
        }
        // No O_TMPFILE here (or no /proc): a new file of a random name beside it, linked in.
        let partial = ".\(name).partial-\(UUID().uuidString.lowercased())"
        let named = openat(folder, partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard named >= 0 else { throw failure(output) }
        defer {
            close(named)
            unlinkat(folder, partial, 0)
        }
        try copySparse(from: source.fd, to: named, size: info.st_size, output: output)
        fchmod(named, mode)
        guard linkat(folder, partial, folder, name, 0) == 0 else { throw failure(output) }
    }

    private static func failure(_ output: URL) -> any Error {
        errno == EEXIST ? ExportError.outputExists(output.path) as any Error
            : CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: output.path, NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)])
    }

    /// The data sections of `source` (SEEK_DATA/SEEK_HOLE), holes left as holes.
    static func copySparse(from source: Int32, to target: Int32, size: off_t, output: URL) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while offset < size {
            let data = lseek(source, offset, seekData)
            if data < 0 && errno == ENXIO { break }
            let end = data < 0 ? -1 : lseek(source, data, seekHole)
            guard data >= 0, end >= 0 else { throw failure(output) }
            var at = data
            while at < end {
                let count = pread(source, &buffer, min(buffer.count, Int(end - at)), at)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw failure(output) }
                var written = 0
                while written < count {
                    let step = buffer.withUnsafeBytes { pwrite(target, $0.baseAddress! + written, count - written, at + off_t(written)) }
                    if step < 0 && errno == EINTR { continue }
                    guard step > 0 else { throw failure(output) }
                    written += step
                }
                at += off_t(count)
            }
            offset = end
        }
        guard ftruncate(target, size) == 0 else { throw failure(output) }
    }
}
