// Progress on stderr: one line per stage with elapsed time, a live line while waiting, a bar
// while an install writes. Plain text, no colours (so NO_COLOR holds by construction).

import BootcCore
import Foundation

package struct ProgressReporter: Sendable {
    let quiet: Bool
    let isTerminal: Bool
    let start: ContinuousClock.Instant

    /// Progress shows on a terminal unless --quiet; elsewhere (pipes, CI logs) only when
    /// PODMAN_BOOTC_PROGRESS=always asks for it. Notices and errors always show.
    package init(quiet: Bool, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.isTerminal = isatty(STDERR_FILENO) == 1
        switch environment["PODMAN_BOOTC_PROGRESS"] {
        case "always": self.quiet = quiet
        case "never": self.quiet = true
        default: self.quiet = quiet || !isTerminal
        }
        self.start = .now
    }

    /// Reports nothing but notices (for steps that run inside a stage already announced).
    package static var silent: ProgressReporter { ProgressReporter(quiet: true, environment: ["PODMAN_BOOTC_PROGRESS": "never"]) }

    private var elapsed: String {
        let d = ContinuousClock.now - start
        return String(format: "%5.1fs", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    /// A stage begins.
    package func stage(_ message: String) {
        guard !quiet else { return }
        write("[\(elapsed)] \(message)\n")
    }

    /// A line that replaces itself on a terminal; elsewhere only the first one is printed,
    /// so logs do not fill up with repeats.
    func waiting(_ message: String, first: Bool) {
        guard !quiet else { return }
        if isTerminal {
            write("\r\u{1B}[K[\(elapsed)] \(message)")
        } else if first {
            write("[\(elapsed)] \(message)\n")
        }
    }

    /// A live bar for work of known size; drawn only on a terminal.
    func bar(_ label: String, done: UInt64, total: UInt64) {
        guard !quiet, isTerminal, total > 0 else { return }
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let megabytes = { (bytes: UInt64) in bytes / 1_000_000 }
        write("\r\u{1B}[K[\(elapsed)] \(label) [\(bar)] \(Int(fraction * 100))% \(megabytes(done))/\(megabytes(total)) MB")
        if done >= total { write("\n") }
    }

    /// Ends a `waiting` line.
    func doneWaiting() {
        guard !quiet, isTerminal else { return }
        write("\r\u{1B}[K")
    }

    /// Always shown, even with --quiet: things the user must know (like a VM left running).
    package func notice(_ message: String) {
        // Notices carry what guests said (a console's last lines, a command's errors).
        write(TerminalText.printable(message) + "\n")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
