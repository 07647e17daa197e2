// Progress on stderr: one line per stage with elapsed time, a live line while waiting.

import Foundation

struct ProgressReporter: Sendable {
    let quiet: Bool
    let isTerminal: Bool
    let start: ContinuousClock.Instant

    init(quiet: Bool) {
        self.quiet = quiet
        self.isTerminal = isatty(STDERR_FILENO) == 1
        self.start = .now
    }

    private var elapsed: String {
        let d = ContinuousClock.now - start
        return String(format: "%5.1fs", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    /// A stage begins.
    func stage(_ message: String) {
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

    /// Ends a `waiting` line.
    func doneWaiting() {
        guard !quiet, isTerminal else { return }
        write("\r\u{1B}[K")
    }

    /// Always shown, even with --quiet: things the user must know (like a VM left running).
    func notice(_ message: String) {
        write(message + "\n")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
