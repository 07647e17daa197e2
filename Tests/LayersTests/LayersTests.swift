// The layer generator against the documented example (golden Containerfiles), each
// validation rule with a failing project, dependency order and cycles, determinism, and
// fuzzed YAML that must give file:line problems, never a crash.

import Foundation
import GoldenFiles
@testable import Layers
import Testing

enum Fixture {
    static let seed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/seed")

    /// A copy of the seed project with `edits` (relative path -> new content, nil deletes).
    static func project(_ edits: [String: String?] = [:]) throws -> URL {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("layers-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: seed, to: copy)
        for (path, content) in edits {
            let url = copy.appendingPathComponent(path)
            if let content {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try content.write(to: url, atomically: true, encoding: .utf8)
            } else {
                try FileManager.default.removeItem(at: url)
            }
        }
        return copy
    }
}

@Suite struct GeneratorTests {
    @Test func seedExampleGeneratesGoldenContainerfiles() throws {
        let project = try Project.load(root: Fixture.seed)
        #expect(project.validate() == [])
        let generated = try project.generateAll()
        #expect(generated.map(\.name) == ["fedora", "ubuntu", "fedora-test"], "build order: a base before the images on it")
        for image in generated {
            try Golden.check(image.containerfile, "\(image.name).Containerfile")
        }
        let test = try #require(generated.first { $0.name == "fedora-test" })
        try Golden.check(test.traefikRoutes ?? "", "fedora-test.traefik-routes.yml")
        #expect(test.serviceFragments.map(\.layer) == ["traefik", "testapi"])
    }

    @Test func inheritanceAndBases() throws {
        let project = try Project.load(root: Fixture.seed)
        let fedora = try project.resolve("fedora"), ubuntu = try project.resolve("ubuntu"), test = try project.resolve("fedora-test")
        #expect(fedora.base == "quay.io/fedora/fedora:43" && !fedora.baseIsImage)
        #expect(fedora.reference == "ghcr.io/atrawog/fedora:latest")
        #expect(ubuntu.pkg == "deb" && ubuntu.baseReference == "ubuntu:24.04")
        #expect(test.baseIsImage && test.baseReference == "ghcr.io/atrawog/fedora:latest")
        #expect(fedora.resolvedLayers == ["pixi", "python", "nodejs", "rust", "supervisord"])
        // fedora-test's own layers only: pixi, python, supervisord come with its base.
        #expect(test.resolvedLayers == ["traefik", "testapi"])
        #expect(test.mergeAuto && test.mergeMaxMB == 128 && test.platforms == ["linux/amd64", "linux/arm64"])
        #expect(try project.buildOrder(["fedora-test", "fedora", "ubuntu"]) == ["fedora", "fedora-test", "ubuntu"])
    }

    @Test func outputIsByteIdenticalOnEveryRun() throws {
        let root = try Fixture.project()
        defer { try? FileManager.default.removeItem(at: root) }
        let project = try Project.load(root: root)
        let first = try project.write(try project.generateAll()).map { try Data(contentsOf: $0) }
        let second = try project.write(try Project.load(root: root).generateAll()).map { try Data(contentsOf: $0) }
        #expect(first == second)
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(".build/fedora-test/fragments/testapi.conf").path))
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(".build/fedora-test/fragments/00-header.conf").path))
    }

    @Test func dependencyOrderAndCycles() throws {
        let edges = ["a": ["b", "c"], "b": ["c"], "c": [], "d": ["a"]]
        #expect(try LayerGraph.order(roots: ["d"], edges: { edges[$0] }, missing: { _, _ in }) == ["c", "b", "a", "d"])
        let cyclic = ["a": ["b"], "b": ["c"], "c": ["a"]]
        #expect(throws: Cycle(path: ["a", "b", "c", "a"])) {
            try LayerGraph.order(roots: ["a"], edges: { cyclic[$0] }, missing: { _, _ in })
        }
    }

    @Test func imageNamesForRunTargets() throws {
        let text = try String(contentsOf: Fixture.seed.appendingPathComponent("images.yml"), encoding: .utf8)
        #expect(ImagesFile.imageNames(in: text) == ["fedora", "ubuntu", "fedora-test"])
        #expect(ImagesFile.imageNames(in: "images: [\n") == [])
    }

    @Test func calVer() {
        let date = Date(timeIntervalSince1970: 1_771_164_900) // 2026-02-15 14:15 UTC
        #expect(CalVer.version(at: date) == "2026.46.1415")
        #expect(CalVer.version(at: Date(timeIntervalSince1970: 1_767_240_300)) == "2026.1.405")
    }
}

@Suite struct ValidationTests {
    func problems(_ edits: [String: String?]) throws -> [String] {
        let root = try Fixture.project(edits)
        defer { try? FileManager.default.removeItem(at: root) }
        return try Project.load(root: root).validate().map(\.description)
    }

    @Test(arguments: [
        (["layers/empty/README": "nothing to install"], "layer empty has no install file"),
        (["layers/crate/Cargo.toml": "[package]\nname = \"x\"\n"], "Cargo.toml needs a src/ folder"),
        (["layers/copr/layer.yml": "rpm:\n  copr: [owner/project]\n"], "rpm.copr needs rpm.packages"),
        (["layers/repo/layer.yml": "rpm:\n  repos:\n    - name: r\n      url: https://example.invalid/r\n"], "rpm.repos needs rpm.packages"),
        (["images.yml": "images:\n  fedora:\n    pkg: apk\n    layers: [rust]\n"], "pkg must be \"rpm\" or \"deb\""),
        (["layers/a/layer.yml": "depends: [b]\nrpm:\n  packages: [x]\n", "layers/b/layer.yml": "depends: [a]\nrpm:\n  packages: [y]\n"],
         "layer dependencies form a cycle: a -> b -> a"),
        (["images.yml": "images:\n  one:\n    base: two\n    layers: [rust]\n  two:\n    base: one\n    layers: [rust]\n"], "image bases form a cycle"),
        (["layers/pathy/layer.yml": "env:\n  PATH: /x\nrpm:\n  packages: [x]\n"], "env must not set PATH"),
        (["layers/porty/layer.yml": "ports: [70000]\nrpm:\n  packages: [x]\n"], "port \"70000\" is not a port number"),
        (["images.yml": "images:\n  fedora:\n    ports: [\"80:x\"]\n    layers: [rust]\n"], "must be \"PORT\" or \"HOST:CONTAINER\""),
        (["layers/routy/layer.yml": "route:\n  host: a.localhost\nrpm:\n  packages: [x]\n"], "route needs a port"),
        (["images.yml": "images:\n  fedora:\n    layers: [testapi-alone]\n",
          "layers/testapi-alone/layer.yml": "route:\n  host: a.localhost\n  port: 9090\nrpm:\n  packages: [x]\n"], "not the traefik layer"),
        (["images.yml": "images:\n  fedora:\n    merge:\n      max_mb: 0\n    layers: [rust]\n"], "merge.max_mb must be greater than 0"),
        (["images.yml": "images:\n  fedora:\n    layers: [nope]\n"], "layer \"nope\" does not exist"),
        (["images.yml": "images:\n  fedora:\n    base: x\n"], "needs a layers: list"),
        (["layers/evil/layer.yml": "rpm:\n  packages: [\"x; rm -rf /\"]\n"], "is not a package name"),
        (["layers/two/pixi.toml": "", "layers/two/pyproject.toml": ""], "only one pixi manifest per layer"),
        (["layers/typo/layer.yml": "depend: [x]\nrpm:\n  packages: [x]\n"], "unknown key \"depend\""),
    ] as [([String: String?], String)])
    func everyRuleHasAFailingExample(edits: [String: String?], expected: String) throws {
        let found = try problems(edits)
        #expect(found.contains { $0.contains(expected) }, "expected \(expected.debugDescription) in \(found)")
    }

    @Test func allProblemsInOneRunWithFileAndLine() throws {
        let found = try problems([
            "layers/pathy/layer.yml": "rpm:\n  packages: [x]\nenv:\n  PATH: /x\n",
            "layers/porty/layer.yml": "rpm:\n  packages: [x]\nports: [0]\n",
        ])
        #expect(found.count == 2, "\(found)")
        #expect(found.contains { $0.hasSuffix("layers/pathy/layer.yml:4: layer pathy: env must not set PATH; list the folders under path_append instead") }, "\(found)")
        #expect(found.contains { $0.contains("layers/porty/layer.yml:3:") }, "\(found)")
    }

    @Test func brokenYAMLIsAFileLineProblem() throws {
        let found = try problems(["images.yml": "images:\n  fedora:\n    layers: [rust\n  x: y\n"])
        #expect(found.count >= 1)
        #expect(found.first?.contains("images.yml:") == true && found.first?.contains("not valid YAML") == true, "\(found)")
    }

    /// Random mutations of the example files never crash loading, validation or generation.
    @Test func fuzzedYAMLNeverCrashes() throws {
        var generator = SeededGenerator(seed: 2026)
        let root = try Fixture.project()
        defer { try? FileManager.default.removeItem(at: root) }
        let targets = ["images.yml", "layers/testapi/layer.yml", "layers/nodejs/layer.yml"]
        let originals = try targets.map { try String(contentsOf: root.appendingPathComponent($0), encoding: .utf8) }
        let pieces = [":", "-", " ", "\n", "[", "]", "{", "}", "\"", "'", "&a", "*a", "!!", "#", "\t", "0", "~", "|"]
        for _ in 0..<300 {
            let which = Int.random(in: 0..<targets.count, using: &generator)
            let text = generator.mutate(originals[which], pieces: pieces, edits: 1...6)
            try text.write(to: root.appendingPathComponent(targets[which]), atomically: false, encoding: .utf8)
            if let project = try? Project.load(root: root) {
                let found = project.validate()
                if found.isEmpty { _ = try? project.generateAll() }
                #expect(found.allSatisfy { $0.file.hasPrefix(root.path) || $0.file.hasPrefix("/") })
            }
            try originals[which].write(to: root.appendingPathComponent(targets[which]), atomically: false, encoding: .utf8)
        }
    }
}
