// docs/kubevirt.md: every `sh` block that can run here runs, in order, in one shell, as a
// reader would paste them (blocks starting `# not run here` need a cluster and are skipped).

import Foundation
import Testing

extension EndToEnd {
@Suite struct DocsTests {
    /// The `sh` blocks of a Markdown file, and which of them are marked as not runnable here.
    static func shellBlocks(_ markdown: String) -> (run: [String], skipped: [String]) {
        var run: [String] = [], skipped: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```sh" {
                current = []
            } else if current != nil, line == "```" {
                let block = current!.joined(separator: "\n")
                if block.hasPrefix("# not run here") { skipped.append(block) } else { run.append(block) }
                current = nil
            } else {
                current?.append(line)
            }
        }
        return (run, skipped)
    }

    @Test func kubevirtWalkthroughRuns() async throws {
        let markdown = try String(contentsOf: Harness.repository.appendingPathComponent("docs/kubevirt.md"), encoding: .utf8)
        let blocks = Self.shellBlocks(markdown)
        #expect(blocks.run.count >= 4 && blocks.skipped.count >= 4, "\(blocks.run.count) run, \(blocks.skipped.count) skipped")
        #expect(blocks.skipped.allSatisfy { !$0.contains("podman-bootc ") }, "every podman-bootc command in the walkthrough runs here")

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-docs-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(at: work)
            Task { _ = try? await Harness.run("/usr/bin/podman", ["rmi", "-f", "localhost/demo-containerdisk:latest"]) }
        }
        // The walkthrough builds images/cloud-init on top of the demo image, as a user would.
        let binaryFolder = URL(fileURLWithPath: Harness.binary).deletingLastPathComponent().path
        let script = "set -euo pipefail\ncd \"$1\"\nexport REPOSITORY=\"$2\" PATH=\"$3:$PATH\"\n" + blocks.run.joined(separator: "\n")
        let result = try await Harness.run("/bin/bash", ["-c", script, "docs", work.path, Harness.repository.path, binaryFolder])
        #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
        #expect(result.stdout.contains("demo.vm.yaml") && result.stdout.contains("id_ed25519"), "\(result.stdout)")
    }

    @Test func blocksAreFoundAndMarked() {
        let blocks = Self.shellBlocks("x\n```sh\necho a\n```\n```sh\n# not run here: cluster\nkubectl get vm\n```\n```yaml\nk: v\n```\n")
        #expect(blocks.run == ["echo a"])
        #expect(blocks.skipped == ["# not run here: cluster\nkubectl get vm"])
    }
}
}
