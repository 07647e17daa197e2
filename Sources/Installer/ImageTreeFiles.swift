// Reading an image's small files (configuration) without following its links onto the host.

import Foundation

extension ImageTree {
    /// The content of the regular file at `path`, nil when it is missing, no regular file,
    /// reached through a link, or larger than `limit`.
    func smallData(_ path: String, limit: Int = 64 << 10) -> Data? {
        guard let entry = entry(path), entry.kind == .file, entry.size <= UInt64(limit), let fd = openFile(path) else { return nil }
        defer { close(fd) }
        // Checked again on what was opened: a folder source can change between the two looks.
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_size <= limit else { return nil }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while data.count <= limit {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            data.append(contentsOf: buffer[..<count])
        }
        return data.count <= limit ? data : nil
    }

    /// The same as text (UTF-8, invalid bytes replaced).
    func smallFile(_ path: String, limit: Int = 64 << 10) -> String? {
        smallData(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}
