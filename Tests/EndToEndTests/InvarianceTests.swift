// podrun's contract for real: the rebuild decision against real podman images with and
// without labels, a quadlet .build unit built only when its declared hash changes (and a
// build that forgets the label is an error), and `run DIR`: edit -> rebuild -> reinstall ->
// the change is in the VM; no edit -> no build, no install.

import Foundation
import Testing

extension EndToEnd {
@Suite struct InvarianceTests {
    struct Check: Decodable {
        struct Decision: Decodable { var build: Bool; var reason: String }
        var image: String
        var decision: Decision
    }

    func scratchFolder(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-inv-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, content) in files { try content.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return dir
    }

    func check(_ target: String) async throws -> Check {
        let result = try await Harness.podmanBootc(["invariance", "check", "--format", "json", target])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        return try JSONDecoder().decode(Check.self, from: Data(result.stdout.utf8))
    }

    @Test func quadletUnitDecisionAgainstRealImages() async throws {
        let tag = "localhost/podman-bootc-e2e-unit-\(UUID().uuidString.prefix(6).lowercased()):latest"
        let hash = String(repeating: "ab", count: 32)
        let dir = try scratchFolder([
            "Containerfile": "FROM \(Harness.demoImage)\nARG INVARIANCE_HASH\nLABEL io.0xmax42.invariance-hash=\"${INVARIANCE_HASH}\"\n",
            "NoLabel.Containerfile": "FROM scratch\nCOPY Containerfile /x\n",
            "app.build": """
                [X-Build]
                ImageTag=\(tag)
                File=Containerfile
                SetWorkingDirectory=unit
                PodmanArgs=--build-arg INVARIANCE_HASH=${INVARIANCE_HASH}
                [Service]
                Environment=INVARIANCE_HASH=\(hash)
                """,
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let unit = dir.appendingPathComponent("app.build").path

        // No image -> build.
        var decision = try await check(unit)
        #expect(decision.image == tag)
        #expect(decision.decision.build && decision.decision.reason.contains("does not exist"))
        // An image without the label -> build.
        #expect(try await Harness.run("/usr/bin/podman", ["build", "-q", "-t", tag, "-f", dir.appendingPathComponent("NoLabel.Containerfile").path, dir.path]).status == 0)
        decision = try await check(unit)
        #expect(decision.decision.build && decision.decision.reason.contains("no io.0xmax42.invariance-hash label"))

        // cache add builds through the unit (the hash reaches the label), then installs.
        let progress = ["PODMAN_BOOTC_PROGRESS": "always"]
        let first = try await Harness.podmanBootc(["cache", "add", unit], environment: progress)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        #expect(first.stderr.contains("Building \(tag)"), "stderr: \(first.stderr)")
        #expect(first.stderr.contains("Installing"))
        decision = try await check(unit)
        #expect(!decision.decision.build && decision.decision.reason.contains("matches"))
        // Unchanged: no build, no install.
        let second = try await Harness.podmanBootc(["cache", "add", unit], environment: progress)
        #expect(second.status == 0 && second.stdout == first.stdout)
        #expect(!second.stderr.contains("Building") && !second.stderr.contains("Installing"), "stderr: \(second.stderr)")

        // A changed declared hash -> build; a Containerfile that drops the label is an error.
        let unitText = try String(contentsOfFile: unit, encoding: .utf8)
        try unitText.replacingOccurrences(of: hash, with: String(repeating: "cd", count: 32))
            .replacingOccurrences(of: "File=Containerfile", with: "File=NoLabel.Containerfile")
            .write(toFile: unit, atomically: true, encoding: .utf8)
        decision = try await check(unit)
        #expect(decision.decision.build && decision.decision.reason.contains("other inputs"))
        let broken = try await Harness.podmanBootc(["cache", "add", unit])
        #expect(broken.status == 125)
        #expect(broken.errorLines.first?.contains("LABEL io.0xmax42.invariance-hash") == true, "stderr: \(broken.stderr)")

        // A malformed unit is a file:line error.
        try "[X-Build]\nImageTag\n".write(toFile: unit, atomically: true, encoding: .utf8)
        let malformed = try await Harness.podmanBootc(["run", "--dry-run", unit])
        #expect(malformed.status == 64)
        #expect(malformed.errorLines.first?.contains("\(unit):2:") == true, "stderr: \(malformed.stderr)")
        try await Self.removeCachedDisks(of: tag)
        _ = try await Harness.run("/usr/bin/podman", ["rmi", "-f", tag])
    }

    /// This test's disks only: other tests reuse the demo image's cached disk.
    static func removeCachedDisks(of image: String) async throws {
        struct Entry: Decodable { var key: String; var image: String }
        let listed = try await Harness.podmanBootc(["cache", "list", "--format", "json"])
        for entry in try JSONDecoder().decode([Entry].self, from: Data(listed.stdout.utf8)) where entry.image == image {
            try? FileManager.default.removeItem(at: Harness.stateDir.appendingPathComponent("cache/\(entry.key)"))
        }
    }

    @Test func runAFolderRebuildsOnlyWhenItChanges() async throws {
        let dir = try scratchFolder([
            "Containerfile": "FROM \(Harness.demoImage)\nCOPY marker /etc/podman-bootc-marker\n",
            "marker": "one\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let tag = "localhost/\(dir.lastPathComponent):latest"
        let progress = ["PODMAN_BOOTC_PROGRESS": "always"]

        let first = try await Harness.podmanBootc(["run", "--rm", dir.path, "--", "cat", "/etc/podman-bootc-marker"], environment: progress)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        #expect(first.stdout == "one\n")
        #expect(first.stderr.contains("Building \(tag)") && first.stderr.contains("Installing"), "stderr: \(first.stderr)")

        // No edit: neither a build nor an install would happen.
        let again = try await Harness.podmanBootc(["run", "--dry-run", dir.path])
        #expect(again.status == 0, "stderr: \(again.stderr)")
        #expect(again.stdout.hasPrefix("use \(tag): the image's label matches"), "stdout: \(again.stdout)")
        #expect(again.stdout.contains("reuse (direct)"), "stdout: \(again.stdout)")

        // An edit: rebuilt, reinstalled, and the VM sees the change.
        try "two\n".write(to: dir.appendingPathComponent("marker"), atomically: true, encoding: .utf8)
        let edited = try await Harness.podmanBootc(["run", "--rm", dir.path, "--", "cat", "/etc/podman-bootc-marker"], environment: progress)
        #expect(edited.status == 0, "stderr: \(edited.stderr)")
        #expect(edited.stdout == "two\n")
        #expect(edited.stderr.contains("Building \(tag)") && edited.stderr.contains("Installing"), "stderr: \(edited.stderr)")
        try await Self.removeCachedDisks(of: tag)
        _ = try await Harness.run("/usr/bin/podman", ["rmi", "-f", tag])
    }

    /// The layer generator end to end: images.yml + a layer -> generated Containerfile ->
    /// build -> install -> boot; editing the layer rebuilds, reinstalls and shows in the VM.
    @Test func runALayerGeneratorImage() async throws {
        let name = "e2e-layers-\(UUID().uuidString.prefix(6).lowercased())"
        let dir = try scratchFolder([
            "images.yml": "defaults:\n  pkg: deb\nimages:\n  \(name):\n    base: \(Harness.demoImage)\n    layers: [greeting]\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let layer = dir.appendingPathComponent("layers/greeting/layer.yml")
        try FileManager.default.createDirectory(at: layer.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "deb:\n  packages: [hello]\n".write(to: layer, atomically: true, encoding: .utf8)
        let tag = "localhost/\(name):latest"
        let config = dir.appendingPathComponent("images.yml").path
        let progress = ["PODMAN_BOOTC_PROGRESS": "always"]
        let probe = ["--", "sh", "-c", "hello; command -v tree || echo no-tree"]

        let first = try await Harness.podmanBootc(["run", "--rm", "--config", config, name] + probe, environment: progress)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        #expect(first.stdout == "Hello, world!\nno-tree\n")
        #expect(first.stderr.contains("Building \(tag)") && first.stderr.contains("Installing"), "stderr: \(first.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".build/\(name)/Containerfile").path))

        let again = try await Harness.podmanBootc(["run", "--dry-run", "--config", config, name])
        #expect(again.stdout.hasPrefix("use \(tag)") && again.stdout.contains("reuse (direct)"), "stdout: \(again.stdout) stderr: \(again.stderr)")

        try "deb:\n  packages: [hello, tree]\n".write(to: layer, atomically: true, encoding: .utf8)
        let edited = try await Harness.podmanBootc(["run", "--rm", "--config", config, name] + probe, environment: progress)
        #expect(edited.status == 0, "stderr: \(edited.stderr)")
        #expect(edited.stdout == "Hello, world!\n/usr/bin/tree\n")
        #expect(edited.stderr.contains("Building \(tag)") && edited.stderr.contains("Installing"), "stderr: \(edited.stderr)")
        try await Self.removeCachedDisks(of: tag)
        _ = try await Harness.run("/usr/bin/podman", ["rmi", "-f", tag])
    }
}
}
