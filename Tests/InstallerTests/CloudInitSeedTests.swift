// The NoCloud seed with the real xorriso: label cidata, the files inside, made once per
// content, a missing user-data refused.

import Foundation
import Host
@testable import Installer
import Logging
import Testing

@Suite struct CloudInitSeedTests {
    func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cidata-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("in"), withIntermediateDirectories: true)
        return dir
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/xorriso"), "needs xorriso (scripts/setup.sh installs it)"))
    func seedIsMadeOncePerContent() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in")
        try "#cloud-config\nusers: [{name: demo}]\n".write(to: input.appendingPathComponent("user-data"), atomically: true, encoding: .utf8)
        let seed = CloudInitSeed(runner: SubprocessRunner(logger: Logger(label: "test")), folder: dir.appendingPathComponent("seeds"))

        let first = try await seed.iso(for: input)
        let label = try await SubprocessRunner(logger: Logger(label: "test")).check(["xorriso", "-indev", first.path, "-pvd_info"], stderr: .capture)
        #expect(label.contains("Volume Id    : cidata"), "\(label)")
        let listing = try await SubprocessRunner(logger: Logger(label: "test")).check(["xorriso", "-indev", first.path, "-ls", "/"], stderr: .capture)
        #expect(listing.contains("'user-data'") && listing.contains("'meta-data'"), "\(listing)")

        let made = try FileManager.default.attributesOfItem(atPath: first.path)[.modificationDate] as? Date
        let again = try await seed.iso(for: input)
        #expect(again == first)
        #expect(try FileManager.default.attributesOfItem(atPath: again.path)[.modificationDate] as? Date == made, "not made again")

        try "#cloud-config\nusers: [{name: other}]\n".write(to: input.appendingPathComponent("user-data"), atomically: true, encoding: .utf8)
        #expect(try await seed.iso(for: input) != first, "changed content, new seed")
    }

    @Test func userDataIsRequired() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let seed = CloudInitSeed(runner: SubprocessRunner(logger: Logger(label: "test")), folder: dir.appendingPathComponent("seeds"))
        await #expect(throws: CloudInitError.noUserData(dir.appendingPathComponent("in").path)) {
            try await seed.iso(for: dir.appendingPathComponent("in"))
        }
    }
}
