// `run` as a CI boot smoke test: --timeout destroys the VM and exits 124 near the deadline;
// --artifact, --logs, --report (read by Python's junitparser, a real JUnit consumer) and the
// --format json summary, on a command that fails. And --cloudinit with the repository's
// example seed on an image with Debian's cloud-init.

import Foundation
import Testing

extension EndToEnd {
@Suite struct CIModeTests {
    let image = Harness.demoImage

    func folder(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("e2e-ci-\(name)-\(UUID().uuidString.prefix(6))")
    }

    /// tests/failures/errors as junitparser reads them, and each case's result types.
    func junit(_ file: URL) async throws -> String {
        let script = """
            import sys
            from junitparser import JUnitXml
            xml = JUnitXml.fromfile(sys.argv[1])
            results = [type(r).__name__ + ":" + (r.type or "") for suite in xml for case in suite for r in case.result]
            print(f"tests={xml.tests} failures={xml.failures} errors={xml.errors} results={','.join(results)}")
            """
        let result = try await Harness.run("/usr/bin/python3", ["-c", script, file.path])
        #expect(result.status == 0, "junitparser: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func timeoutDestroysTheVMAndExits124() async throws {
        let before = try await RunTests.Snapshot.take()
        let logs = folder("logs"), report = folder("report").appendingPathExtension("xml")
        defer { try? FileManager.default.removeItem(at: logs); try? FileManager.default.removeItem(at: report) }
        let started = ContinuousClock.now
        let result = try await Harness.podmanBootc(["run", "--rm", "--timeout", "75s", "--logs", logs.path, "--report", report.path,
                                                    image, "--", "sleep", "600"])
        let seconds = (ContinuousClock.now - started).components.seconds
        #expect(result.status == 124, "stderr: \(result.stderr)")
        #expect(seconds >= 75 && seconds < 90, "exited after \(seconds)s for a 75s deadline")
        #expect(result.errorLines.first?.contains("did not finish within 75s") == true, "stderr: \(result.stderr)")
        try await RunTests().expectNothingLeft(since: before)
        #expect(FileManager.default.fileExists(atPath: logs.appendingPathComponent("console.log").path))
        #expect(try await junit(report) == "tests=1 failures=0 errors=1 results=Error:timeout")
    }

    @Test func failingCommandKeepsArtifactsLogsAndReports() async throws {
        let out = folder("artifacts"), logs = folder("logs"), report = folder("report").appendingPathExtension("xml")
        defer { for dir in [out, logs, report] { try? FileManager.default.removeItem(at: dir) } }
        let result = try await Harness.podmanBootc([
            "run", "--rm", "--artifact", "/etc/os-release:\(out.path)", "--artifact", "/etc/ssh:\(out.path)/tree",
            "--logs", logs.path, "--report", report.path, "--format", "json",
            image, "--", "sh", "-c", "echo from-guest; exit 3"])
        #expect(result.status == 3, "stderr: \(result.stderr)")
        #expect(result.stdout.hasPrefix("from-guest\n"))

        let osRelease = try String(contentsOf: out.appendingPathComponent("os-release"), encoding: .utf8)
        #expect(osRelease.contains("Debian"))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("tree/ssh/sshd_config").path), "folders are copied whole")
        #expect(FileManager.default.fileExists(atPath: logs.appendingPathComponent("console.log").path))
        let journal = (try? String(contentsOf: logs.appendingPathComponent("journal.txt"), encoding: .utf8)) ?? ""
        #expect(journal.contains("systemd"), "the guest journal was saved")

        struct Summary: Decodable {
            struct Stage: Decodable { var name: String; var seconds: Double }
            var outcome: String; var exitCode: Int32; var stages: [Stage]; var artifacts: [String]
        }
        let json = String(result.stdout.dropFirst("from-guest\n".count))
        let summary = try JSONDecoder().decode(Summary.self, from: Data(json.utf8))
        #expect(summary.outcome == "failed" && summary.exitCode == 3)
        // A real boot (which may save a warm state), or a warm start from the demo image's
        // saved state, each part of the restore a stage of its own.
        let stages = summary.stages.map(\.name)
        let restore = ["restore-verify", "restore-start", "restore-load", "restore-identity", "ssh"]
        let expected = [["boot", "ssh"], ["boot", "ssh", "save-state"], restore].map {
            ["build", "install"] + $0 + ["command", "artifacts", "teardown"]
        }
        #expect(expected.contains(stages), "\(stages)")
        #expect(summary.artifacts.count == 2)
        #expect(try await junit(report) == "tests=1 failures=1 errors=0 results=Failure:exit-status")
    }

    @Test func cloudInitExampleSeedsTheGuest() async throws {
        let tag = "localhost/podman-bootc-test:cloud-init"
        let folder = Harness.repository.appendingPathComponent("images/cloud-init").path
        let built = try await Harness.run("/usr/bin/podman", ["build", "-q", "--build-arg", "BASE_IMAGE=\(image)", "-t", tag, folder])
        #expect(built.status == 0, "podman build: \(built.stderr)")
        let seed = Harness.repository.appendingPathComponent("cloud-init").path
        let result = try await Harness.podmanBootc([
            "run", "--rm", "--cloudinit", seed, tag, "--",
            "cloud-init status --wait >/dev/null; id -un demo; cat /etc/podman-bootc-cloud-init.txt"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == "demo\nwritten by cloud-init from podman-bootc's example\n", "stdout: \(result.stdout)")

        let missing = try await Harness.podmanBootc(["run", "--rm", "--cloudinit", Harness.repository.appendingPathComponent("images").path, tag, "--", "true"])
        #expect(missing.status == 64)
        #expect(missing.errorLines.first?.contains("has no user-data") == true, "stderr: \(missing.stderr)")
    }
}
}
