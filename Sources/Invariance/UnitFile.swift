// systemd unit file syntax (what quadlet reads): sections, Key=Value entries, comments and
// backslash continuations, with the line of every entry kept for error messages.

import Foundation

/// One `Key=Value` line of a unit file.
public struct UnitEntry: Sendable, Equatable {
    public var section: String
    public var key: String
    public var value: String
    /// 1-based line where the entry starts.
    public var line: Int
}

/// A malformed unit file: where, and what to fix.
public struct UnitFileError: Error, Equatable, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var message: String

    public var description: String { "\(file):\(line): \(message)" }
}

public struct UnitFile: Sendable, Equatable {
    public var path: String
    public var entries: [UnitEntry]

    /// systemd refuses longer lines (LONG_LINE_MAX); a unit file beyond this is not one.
    static let maximumSize = 1 << 20

    /// Parses unit file text. systemd's rules: `#` and `;` start comment lines, a trailing
    /// backslash joins the next line with a space (comment lines inside are dropped), keys and
    /// values are trimmed, and entries before the first section header are errors.
    public init(path: String, text: String) throws {
        self.path = path
        var entries: [UnitEntry] = []
        var section: String?
        guard text.utf8.count <= Self.maximumSize else {
            throw UnitFileError(file: path, line: 1, message: "the unit file is larger than \(Self.maximumSize >> 20) MiB; is it a unit file?")
        }
        guard !text.utf8.contains(0) else {
            throw UnitFileError(file: path, line: 1, message: "the unit file contains a NUL byte; is it a unit file?")
        }
        // Split on the scalar "\n": as Characters, "\r\n" is one grapheme and never equals "\n".
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { scalars -> String in
            let line = String(String.UnicodeScalarView(scalars))
            return line.unicodeScalars.last == "\r" ? String(String.UnicodeScalarView(line.unicodeScalars.dropLast())) : line
        }
        var index = 0
        while index < lines.count {
            let number = index + 1
            var line = String(lines[index]).trimmingCharacters(in: .whitespaces)
            index += 1
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw UnitFileError(file: path, line: number, message: "section header \(line.debugDescription) must look like [Name]")
                }
                let name = String(line.dropFirst().dropLast())
                guard !name.contains("[") && !name.contains("]") else {
                    throw UnitFileError(file: path, line: number, message: "section header \(line.debugDescription) must look like [Name]")
                }
                section = name
                continue
            }
            if line.hasSuffix("\\") {
                // Parts joined once at the end: appending to one string per line was quadratic.
                var parts: [String] = []
                var current = line
                while current.hasSuffix("\\") {
                    parts.append(String(current.dropLast()))
                    current = ""
                    // Comment lines inside a continuation are skipped, as systemd does.
                    var found = false
                    while index < lines.count {
                        let next = lines[index].trimmingCharacters(in: .whitespaces)
                        index += 1
                        if next.hasPrefix("#") || next.hasPrefix(";") { continue }
                        current = next
                        found = true
                        break
                    }
                    if !found { break }
                }
                parts.append(current)
                line = parts.joined(separator: " ")
            }
            guard let section else {
                throw UnitFileError(file: path, line: number, message: "\(line.debugDescription) comes before any [Section] header")
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw UnitFileError(file: path, line: number, message: "expected Key=Value, found \(line.debugDescription)")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                throw UnitFileError(file: path, line: number, message: "\(key.debugDescription) is not a valid key name")
            }
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            entries.append(UnitEntry(section: section, key: key, value: value, line: number))
        }
        self.entries = entries
    }

    public init(contentsOf url: URL) throws {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw UnitFileError(file: url.path, line: 0, message: "cannot read the file as UTF-8 text (\(error.localizedDescription))")
        }
        try self.init(path: url.path, text: text)
    }

    /// Every value of `key` in any of `sections`, in file order.
    public func values(_ key: String, in sections: Set<String>) -> [UnitEntry] {
        entries.filter { sections.contains($0.section) && $0.key == key }
    }

    public var sections: Set<String> { Set(entries.map(\.section)) }
}

/// systemd's word splitting (Environment=, ExecStart= and quadlet's PodmanArgs=): words are
/// separated by whitespace; double and single quotes group, backslash escapes.
public enum UnitWords {
    public static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var iterator = Array(text)[...]
        while let character = iterator.popFirst() {
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"", let next = iterator.popFirst() {
                    current.append(next)
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "\"", "'":
                quote = character
                inWord = true
            case "\\":
                guard let next = iterator.popFirst() else { throw UnitWordsError.danglingBackslash }
                current.append(next)
                inWord = true
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil { throw UnitWordsError.unterminatedQuote }
        if inWord { words.append(current) }
        return words
    }
}

public enum UnitWordsError: Error, Equatable, CustomStringConvertible {
    case unterminatedQuote
    case danglingBackslash

    public var description: String {
        switch self {
        case .unterminatedQuote: "a quote is not closed"
        case .danglingBackslash: "a backslash ends the value"
        }
    }
}
