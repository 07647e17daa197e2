// Reading the last lines of a VM's serial console log for error reports.

import Foundation
import Host

enum ConsoleLog {
    /// The last `count` non-empty lines, with terminal escape sequences and control bytes removed.
    static func tail(_ url: URL, count: Int = 15) -> [String] {
        // The last 64 KiB of a regular file only: never a whole huge log, never a FIFO.
        guard let log = try? FileDescriptorHandle.openRegularFile(url.path) else { return [] }
        let window: off_t = 64 * 1024
        let size = lseek(log.fd, 0, SEEK_END)
        lseek(log.fd, max(0, size - window), SEEK_SET)
        var tail: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: Int(window))
        while tail.count < Int(window), let count = try? log.read(into: &buffer), count > 0 {
            tail += buffer[..<count]
        }
        let text = String(decoding: tail.suffix(Int(window)), as: UTF8.self)
        return text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { cleaned(String($0)) }
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .suffix(count)
            .map { $0 }
    }

    /// The line in which the boot chain says it would not start the next stage (Secure Boot:
    /// an image it does not trust), if the log's end has one. OVMF's boot manager prints
    /// "BdsDxe: failed to load Boot0001 ... : Access Denied", shim "Verification failed:
    /// (0x1A) Security Violation", GRUB "bad shim signature". (Not the kernel's "module
    /// verification failed", which a booting guest may print.)
    /// Once a kernel prints, the chain was trusted: later lines are the guest's own.
    static func firmwareRefusal(_ url: URL) -> String? {
        let lines = tail(url, count: 200)
        let beforeKernel = lines.prefix { !$0.contains("Linux version") && !$0.contains("EFI stub:") }
        return beforeKernel.first { line in
            (line.contains("BdsDxe:") && line.contains("Access Denied")) || line.contains("Security Violation")
                || line.contains("bad shim signature")
        }
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
