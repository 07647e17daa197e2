// Unit files and file names made to hurt: CRLF, NUL, huge continuations, names that would
// pose as other hash entries.

import Foundation
@testable import Invariance
import Testing

@Suite(.timeLimit(.minutes(1))) struct HostileUnitFileTests {
    @Test func crlfUnitFilesParseLikeLF() throws {
        let lf = "[Build]\nImageTag=localhost/x\nFile=Containerfile\n"
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try UnitFile(path: "x.build", text: crlf).entries == UnitFile(path: "x.build", text: lf).entries)
        #expect(try UnitFile(path: "x.build", text: crlf).entries.map(\.value) == ["localhost/x", "Containerfile"])
    }

    @Test func continuationsJoinWithSpaces() throws {
        let unit = try UnitFile(path: "x.build", text: "[Build]\nPodmanArgs=--a \\\n  --b \\\n# skipped\n  --c\n")
        #expect(unit.entries.map(\.value) == ["--a  --b  --c"])
    }

    /// 200,000 continuation lines: joined once, not re-copied per line (quadratic).
    @Test func longContinuationsAreLinear() throws {
        let text = "[Build]\nPodmanArgs=" + String(repeating: "x \\\n", count: 200_000) + "end\n"
        let unit = try UnitFile(path: "x.build", text: text)
        #expect(unit.entries.count == 1 && unit.entries[0].value.hasSuffix("end"))
    }

    @Test func nulAndOversizedUnitsAreErrors() {
        #expect(throws: UnitFileError.self) { try UnitFile(path: "x.build", text: "[Build]\nImageTag=a\u{0}b\n") }
        #expect(throws: UnitFileError.self) { try UnitFile(path: "x.build", text: "[Build]\nA=" + String(repeating: "x", count: 2 << 20)) }
    }

    /// Before names were escaped, a file named "a 0644 b" plus newline tricks could make two
    /// different trees hash alike; now each name is one field of one line.
    @Test func namesWithNewlinesAndSpacesDoNotCollide() throws {
        func tree(_ files: [String: String]) throws -> URL {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("inv-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            for (name, content) in files { try content.write(to: root.appendingPathComponent(name), atomically: false, encoding: .utf8) }
            return root
        }
        let sha = String(repeating: "0", count: 64)
        let first = try tree(["a": "x"])
        let second = try tree(["a \(sha)\nf 0644 b": "x"])
        defer { try? FileManager.default.removeItem(at: first); try? FileManager.default.removeItem(at: second) }
        #expect(try InvarianceHash.compute(inputs: ["."], root: first) != InvarianceHash.compute(inputs: ["."], root: second))
        #expect(InvarianceHash.escaped("plain-name.txt") == "plain-name.txt")
        #expect(InvarianceHash.escaped("a b\nc\\d") == "a\\x20b\\nc\\\\d")
    }
}
