// JSON as podman-bootc prints it: pretty, sorted keys, ISO 8601 dates (stable for golden
// files and for `jq`).

import Foundation

public enum JSONText {
    public static func render<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
