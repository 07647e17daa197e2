// Reading the last lines of a VM's serial console log for error reports.

import Foundation

enum ConsoleLog {
    /// The last `count` non-empty lines, with terminal escape sequences and control bytes removed.
    static func tail(_ url: URL, count: Int = 15) -> [String] {
        guard let data = try? Data(contentsOf: url) else { return [] }
        let text = String(decoding: data.suffix(64 * 1024), as: UTF8.self)
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
