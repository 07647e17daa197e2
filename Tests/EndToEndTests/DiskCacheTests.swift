// The disk cache with real installs: a killed install leaves nothing a later run would use,
// and concurrent installs of one disk install once. Unusual disk sizes give these tests keys
// of their own, so the demo image's cached disk is left alone.

import Foundation
import Testing

extension EndToEnd {
@Suite struct DiskCacheTests {
    let image = Harness.demoImage
    var cache: URL { Harness.stateDir.appendingPathComponent("cache") }

    struct Plan: Decodable { var key: String; var reuse: Bool; var reason: String }

    func plan(_ diskSize: String) async throws -> Plan {
        let result = try await Harness.podmanBootc(["run", "--dry-run", "--format", "json", "--disk-size", diskSize, image])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        return try JSONDecoder().decode(Plan.self, from: Data(result.stdout.utf8))
    }

    @Test func killedInstallLeavesNoUsableEntry() async throws {
        let size = "10241M"
        let key = try await plan(size).key
        try? FileManager.default.removeItem(at: cache.appendingPathComponent(key))
        defer { try? FileManager.default.removeItem(at: cache.appendingPathComponent(key)) }

        let status = try await Harness.podmanBootcInterrupted(["cache", "add", "--disk-size", size, image]) { _, pid in
            let started = await Harness.waitUntil(timeout: 60) { Harness.cachePartials().contains { $0.hasPrefix(".partial-\(key)-") } }
            #expect(started)
            kill(pid, SIGKILL)
        }
        #expect(status == 128 + SIGKILL)
        let after = try await plan(size)
        #expect(!after.reuse, "a killed install must not be reused")

        let result = try await Harness.podmanBootc(["cache", "add", "--disk-size", size, image])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == key + "\n")
        #expect(try await plan(size).reuse)
        #expect(Harness.cachePartials().isEmpty, "the dead install's partial folder is gone")
    }

    @Test func concurrentInstallsInstallOnce() async throws {
        let size = "10242M"
        let key = try await plan(size).key
        try? FileManager.default.removeItem(at: cache.appendingPathComponent(key))
        defer { try? FileManager.default.removeItem(at: cache.appendingPathComponent(key)) }

        // Stage lines are off when stderr is not a terminal unless asked for.
        let progress = ["PODMAN_BOOTC_PROGRESS": "always"]
        async let first = Harness.podmanBootc(["cache", "add", "--disk-size", size, image], environment: progress)
        async let second = Harness.podmanBootc(["cache", "add", "--disk-size", size, image], environment: progress)
        let results = try await [first, second]
        #expect(results.allSatisfy { $0.status == 0 && $0.stdout == key + "\n" }, "\(results.map(\.stderr))")
        let installs = results.filter { $0.stderr.contains("Installing") }.count
        #expect(installs == 1, "stderr: \(results.map(\.stderr))")
    }
}
}
