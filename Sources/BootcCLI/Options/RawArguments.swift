// Paths from the command line as the caller's bytes. Swift decodes argv as UTF-8 and puts
// U+FFFD where a name is not (a folder named in Latin-1), after which the path names nothing;
// such an argument is looked up in the untouched argv for the bytes it came from.

import Foundation
import Invariance

enum RawArguments {
    /// The bytes `argument` was given as: the argv entry (or `--option=` value) that decodes to
    /// it. Two entries that decode alike are told apart by nothing, so the first one wins.
    static func path(_ argument: String) -> RawPath {
        guard argument.unicodeScalars.contains("\u{FFFD}") else { return RawPath(argument) }
        for index in 1..<Int(CommandLine.argc) {
            guard let entry = CommandLine.unsafeArgv[index] else { continue }
            let bytes = Array(UnsafeBufferPointer(start: entry, count: strlen(entry))).map { UInt8(bitPattern: $0) }
            for candidate in [bytes, value(ofOption: bytes)].compactMap({ $0 })
            where String(decoding: candidate, as: UTF8.self) == argument {
                return RawPath(bytes: candidate)
            }
        }
        return RawPath(argument)
    }

    /// The words of an environment variable, split at spaces, tabs and newlines, as bytes.
    static func words(ofEnvironment name: String) -> [RawPath] {
        guard let value = getenv(name) else { return [] }
        let bytes = Array(UnsafeBufferPointer(start: value, count: strlen(value))).map { UInt8(bitPattern: $0) }
        return bytes.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\n") })
            .map { RawPath(bytes: Array($0)) }
    }

    /// The folder this process runs in, as its bytes.
    static var currentFolder: RawPath {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return RawPath(FileManager.default.currentDirectoryPath) }
        return RawPath(bytes: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) })
    }

    /// VALUE of `--option=VALUE`.
    private static func value(ofOption bytes: [UInt8]) -> [UInt8]? {
        guard bytes.starts(with: Array("--".utf8)), let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        return Array(bytes[(equals + 1)...])
    }
}
