// Guest text on the user's terminal: escape sequences show as text, lines and UTF-8 stay.

import BootcCore
import Testing

@Suite struct TerminalTextTests {
    @Test func controlCharactersBecomeVisible() {
        #expect(TerminalText.printable("a\u{1B}]0;owned\u{07}b") == "a^[]0;owned^Gb")
        #expect(TerminalText.printable("x\u{7F}\u{9B}31m") == "x^?<U+009B>31m")
        #expect(TerminalText.printable("line 1\r\nline 2\ttab\n") == "line 1\nline 2\ttab\n")
        #expect(TerminalText.printable("over\rwrite") == "over^Mwrite")
        #expect(TerminalText.printable("héllo ✓") == "héllo ✓")
        #expect(TerminalText.isPrintable("plain\n") && !TerminalText.isPrintable("\u{1B}[2J"))
    }

    /// Cut anywhere, a stream comes out as the whole text would.
    @Test func aStreamCutAnywhereFiltersAsAWhole() {
        let bytes = Array("boot ✓\r\n\u{1B}[31mred\u{1B}[0m é\r\n".utf8)
        let whole = TerminalText.printable(String(decoding: bytes, as: UTF8.self))
        for cut in 0...bytes.count {
            var filter = TerminalStreamFilter()
            let text = filter.filter(bytes[..<cut]) + filter.filter(bytes[cut...]) + filter.finish()
            #expect(text == whole, "cut at \(cut)")
        }
        var invalid = TerminalStreamFilter()
        #expect(invalid.filter([0x61, 0xFF, 0x62]) + invalid.finish() == "a\u{FFFD}b")
    }
}
