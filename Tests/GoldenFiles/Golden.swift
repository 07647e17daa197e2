// Compares generated text with a file under the calling test's Golden/ folder.
// UPDATE_GOLDEN=1 rewrites the files instead (review the diff before committing).

import Foundation
import Testing

public enum Golden {
    public static func check(_ actual: String, _ name: String, filePath: String = #filePath,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden").appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("missing golden file \(url.path); run with UPDATE_GOLDEN=1 to create it", sourceLocation: sourceLocation)
            return
        }
        #expect(actual == expected, "output differs from \(name)", sourceLocation: sourceLocation)
    }
}
