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

    /// A user-data that is a device or a FIFO is refused at once (it would never end, or
    /// never start); no work folder of the attempt stays.
    @Test func userDataThatIsNotAFileIsRefused() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in")
        let seed = CloudInitSeed(runner: SubprocessRunner(logger: Logger(label: "test")), folder: dir.appendingPathComponent("seeds"))
        try FileManager.default.createSymbolicLink(atPath: input.appendingPathComponent("user-data").path, withDestinationPath: "/dev/zero")
        await #expect(throws: CloudInitError.self) { try await seed.iso(for: input) }
        try FileManager.default.removeItem(at: input.appendingPathComponent("user-data"))
        #expect(mkfifo(input.appendingPathComponent("user-data").path, 0o600) == 0)
        await #expect(throws: CloudInitError.self) { try await seed.iso(for: input) }
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("seeds").path)) ?? []
        #expect(left.isEmpty, "\(left)")
    }

    /// Work folders of a process that died are removed by the next seed made there; fresh ones stay.
    @Test func abandonedWorkIsPruned() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = dir.appendingPathComponent(".work-abc123"), fresh = dir.appendingPathComponent(".work-def456")
        for folder in [old, fresh] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: old.path)
        CloudInitSeed.removeAbandonedWork(in: dir)
        #expect(!FileManager.default.fileExists(atPath: old.path))
        #expect(FileManager.default.fileExists(atPath: fresh.path))
    }
}
