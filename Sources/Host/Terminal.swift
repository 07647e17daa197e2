// The local terminal: its size, and raw mode for interactive sessions (SSH shell, console).

import Foundation

public struct TerminalSize: Equatable, Sendable {
    public var columns: Int
    public var rows: Int

    public init(columns: Int, rows: Int) {
        self.columns = columns
        self.rows = rows
    }

    /// The size of the terminal on `fd`, or nil when it is not a terminal.
    public static func of(_ fd: Int32) -> TerminalSize? {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return TerminalSize(columns: Int(size.ws_col), rows: Int(size.ws_row))
    }
}

/// Puts a terminal in raw mode so every key (Ctrl-C included) goes to the guest.
public final class RawTerminal {
    private let fd: Int32
    private var saved: termios
    private var restored = false

    /// nil when `fd` is not a terminal (input from a pipe stays as it is).
    public init?(fd: Int32) {
        guard isatty(fd) == 1 else { return nil }
        var attributes = termios()
        guard tcgetattr(fd, &attributes) == 0 else { return nil }
        self.fd = fd
        self.saved = attributes
        cfmakeraw(&attributes)
        tcsetattr(fd, TCSADRAIN, &attributes)
        RawTerminal.active = self
    }

    public func restore() {
        guard !restored else { return }
        restored = true
        tcsetattr(fd, TCSADRAIN, &saved)
        RawTerminal.active = nil
    }

    deinit { restore() }

    /// The terminal in raw mode, so a signal handler can restore it before exiting.
    nonisolated(unsafe) static var active: RawTerminal?

    public static func restoreActive() { active?.restore() }
}

public enum TerminalState {
    /// Restores a terminal left in raw mode by an interactive shell (for signal handlers).
    public static func restore() { RawTerminal.restoreActive() }
}
