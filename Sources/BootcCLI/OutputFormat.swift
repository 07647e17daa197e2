// How commands print data on stdout: text for people, JSON for programs.

import ArgumentParser
import BootcCore
import Foundation

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

extension InstallerChoice: ExpressibleByArgument {}
