// Reading the last lines of a VM's serial console log for error reports.

import Foundation

enum ConsoleLog {
    /// The last `count` non-empty lines, with terminal escape sequences and control bytes removed.
    static func tail(_ url: URL, count: Int = 15) -> [String] {
        // The last 64 KiB of a regular file only: never a whole huge log, never a FIFO.
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return [] }
        let window = 64 * 1024
        if info.st_size > window { lseek(fd, off_t(info.st_size) - off_t(window), SEEK_SET) }
        var buffer = [UInt8](repeating: 0, count: window)
        var filled = 0
        while filled < window {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, window - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            filled += n
        }
        let text = String(decoding: buffer[..<filled], as: UTF8.self)
        return text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { cleaned(String($0)) }
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .suffix(count)
            .map { $0 }
    }

    static func cleaned(_ line: String) -> String {
        var out = ""
        var inEscape = false
        for scalar in line.unicodeScalars {
            if inEscape {
                if (0x40...0x7E).contains(scalar.value) && scalar != "[" { inEscape = false }
                continue
            }
            if scalar == "\u{1B}" { inEscape = true; continue }
            if scalar.value < 0x20 && scalar != "\t" { continue }
            out.unicodeScalars.append(scalar)
        }
        return out
    }
}
