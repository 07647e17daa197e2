// Text from a guest (its console, its command's errors, what it answered) reaches the user's
// terminal. Escape sequences in it could retitle the window, move the cursor over earlier
// lines or, on some terminals, answer back as typed input: control characters are shown in
// caret notation (ESC as ^[) instead of being sent to the terminal.

public enum TerminalText {
    /// `text` with every control character but newline and tab made visible: C0 as ^X, DEL
    /// as ^?, C1 (U+0080...U+009F, which some terminals obey as 8-bit escapes) as <U+XXXX>.
    /// A carriage return before a newline (console logs end lines so) is dropped.
    public static func printable(_ text: String) -> String {
        var result = String.UnicodeScalarView()
        let scalars = Array(text.unicodeScalars)
        for (index, scalar) in scalars.enumerated() {
            switch scalar.value {
            case 0x0A, 0x09:
                result.append(scalar)
            case 0x0D where index + 1 < scalars.count && scalars[index + 1] == "\n":
                continue
            case 0x00..<0x20:
                result.append("^")
                result.append(Unicode.Scalar(UInt8(scalar.value + 0x40)))
            case 0x7F:
                result.append(contentsOf: "^?".unicodeScalars)
            case 0x80..<0xA0:
                result.append(contentsOf: "<U+\(String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4))>".unicodeScalars)
            default:
                result.append(scalar)
            }
        }
        return String(result)
    }

    /// Whether `text` holds nothing `printable` would change.
    public static func isPrintable(_ text: String) -> Bool {
        printable(text) == text
    }
}

/// A byte stream (a console log followed to a terminal) made printable as it goes: bytes
/// are decoded as UTF-8 across chunk boundaries; what is not UTF-8 shows as U+FFFD.
public struct TerminalStreamFilter: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    public mutating func filter(_ bytes: some Collection<UInt8>) -> String {
        pending.append(contentsOf: bytes)
        // Hold back an incomplete UTF-8 sequence at the end (at most 3 bytes).
        var end = pending.count
        for back in stride(from: 1, through: min(3, pending.count), by: 1) {
            let byte = pending[pending.count - back]
            if byte & 0xC0 == 0x80 { continue }  // a continuation byte: look further back
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            if length > back { end = pending.count - back }
            break
        }
        // A carriage return at the very end may precede a newline in the next chunk.
        if end > 0 && pending[end - 1] == 0x0D { end -= 1 }
        let text = String(decoding: pending[..<end], as: UTF8.self)
        pending.removeFirst(end)
        return TerminalText.printable(text)
    }

    /// What is left at the end of the stream.
    public mutating func finish() -> String {
        defer { pending = [] }
        return TerminalText.printable(String(decoding: pending, as: UTF8.self))
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
