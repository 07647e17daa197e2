// The invariance hash: deterministic (order, timestamps and owners play no part), sensitive to
// every content, mode, name and link change; and podrun's rebuild decision table.

import Foundation
import GoldenFiles
@testable import Invariance
import Testing

@Suite struct InvarianceHashTests {
    /// A scratch folder with files written in the given order.
    func tree(_ files: [(String, String)], mode: [String: Int] = [:]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("inv-\(UUID().uuidString)")
        for (name, content) in files {
            let url = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url, atomically: false, encoding: .utf8)
            chmod(url.path, mode_t(mode[name] ?? 0o644))
        }
        return root
    }

    static let files = [("Containerfile", "FROM scratch\n"), ("VERSION", "1.0\n"), ("src/a.txt", "a"), ("src/deep/b.txt", "b")]

    func hash(_ root: URL) throws -> String { try InvarianceHash.compute(inputs: ["."], root: root) }

    @Test func sameInputsSameHashWhateverTheOrderAndTimes() throws {
        let first = try tree(Self.files)
        let second = try tree(Self.files.reversed())
        defer { try? FileManager.default.removeItem(at: first); try? FileManager.default.removeItem(at: second) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)],
                                              ofItemAtPath: second.appendingPathComponent("VERSION").path)
        #expect(try hash(first) == hash(second))
        #expect(try hash(first).count == 64)
        // Naming files one by one hashes what naming their folder hashes, minus folders.
        #expect(try InvarianceHash.compute(inputs: ["VERSION", "Containerfile"], root: first)
                == InvarianceHash.compute(inputs: ["Containerfile", "VERSION"], root: second))
    }

    @Test func anyChangeChangesTheHash() throws {
        let root = try tree(Self.files)
        defer { try? FileManager.default.removeItem(at: root) }
        let original = try hash(root)
        var seen: Set<String> = [original]
        func expectNew(_ what: String) throws {
            let now = try hash(root)
            #expect(!seen.contains(now), "\(what) did not change the hash")
            seen.insert(now)
        }
        try "1.1\n".write(to: root.appendingPathComponent("VERSION"), atomically: false, encoding: .utf8)
        try expectNew("content")
        chmod(root.appendingPathComponent("VERSION").path, 0o755)
        try expectNew("mode")
        try FileManager.default.moveItem(at: root.appendingPathComponent("src/a.txt"), to: root.appendingPathComponent("src/c.txt"))
        try expectNew("name")
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("link").path, withDestinationPath: "VERSION")
        try expectNew("new symlink")
        try FileManager.default.removeItem(at: root.appendingPathComponent("link"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("link").path, withDestinationPath: "Containerfile")
        try expectNew("symlink target")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: false)
        try expectNew("empty folder")
        // .git is not an input.
        let before = try hash(root)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: false)
        try "ref".write(to: root.appendingPathComponent(".git/HEAD"), atomically: false, encoding: .utf8)
        #expect(try hash(root) == before)
    }

    /// A property check over random trees: permuting creation order never changes the hash,
    /// flipping one byte of one file always does.
    @Test func randomTreesProperty() throws {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<20 {
            let count = Int.random(in: 1...8, using: &generator)
            let files = (0..<count).map { index in
                ("d\(Int.random(in: 0...2, using: &generator))/f\(index)", String(repeating: "x", count: Int.random(in: 0...50, using: &generator)))
            }
            let first = try tree(files), second = try tree(files.shuffled(using: &generator))
            defer { try? FileManager.default.removeItem(at: first); try? FileManager.default.removeItem(at: second) }
            #expect(try hash(first) == hash(second))
            let victim = files.randomElement(using: &generator)!
            try (victim.1 + "!").write(to: second.appendingPathComponent(victim.0), atomically: false, encoding: .utf8)
            #expect(try hash(first) != hash(second))
        }
    }

    @Test func inputsOutsideTheRootAreRefused() throws {
        let root = try tree(Self.files)
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(throws: InvarianceHashError.self) { try InvarianceHash.compute(inputs: ["../x"], root: root) }
        #expect(throws: InvarianceHashError.self) { try InvarianceHash.compute(inputs: ["missing"], root: root) }
    }

    @Test(arguments: [
        (false, "h", "h", true, "does not exist"),
        (true, nil, "h", true, "declares no invariance hash"),
        (true, "h", nil, true, "has no io.0xmax42.invariance-hash label"),
        (true, "", "h", true, "declares no invariance hash"),
        (true, "h1", "h2", true, "built from other inputs"),
        (true, "h", "h", false, "matches"),
    ] as [(Bool, String?, String?, Bool, String)])
    func decisionTable(exists: Bool, declared: String?, label: String?, build: Bool, reason: String) {
        let decision = RebuildDecision.decide(imageExists: exists, declaredHash: declared, imageHash: label)
        #expect(decision.build == build)
        #expect(decision.reason.contains(reason), "\(decision.reason)")
    }
}
