// Turns the words after `--` into the command line an SSH exec request carries.

import Foundation

public enum RemoteCommand {
    /// One word is sent as it is, a shell command line, as `ssh host 'a | b'` does.
    /// Several words are each quoted, so `-- sh -c 'exit 7'` runs exactly that argv
    /// (plain `ssh` would join them and run `sh -c exit 7`).
    public static func commandLine(for words: [String]) -> String {
        if words.count == 1 { return words[0] }
        return words.map(shellQuoted).joined(separator: " ")
    }

    /// POSIX single-quote quoting: safe for any byte sequence but NUL.
    public static func shellQuoted(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0)) }
        if safe && !word.isEmpty { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
