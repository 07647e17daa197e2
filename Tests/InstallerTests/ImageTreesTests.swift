// Reading images' files: here (a folder), or inside the user namespace through the hidden
// helper command; and bootc install refused to a user without rootful podman.

import BootcCore
import Foundation
import Host
@testable import Installer
import Logging
import Podman
import Synchronization
import Testing

/// Answers every program with `answer`, recording argv and stdin.
final class ScriptedRunner: ProcessRunner {
    let answer: ProcessResult
    let calls = Mutex<[(argv: [String], stdin: String?)]>([])

    init(_ answer: ProcessResult) { self.answer = answer }

    func run(_ argv: [String], stdin: String?, stderr: StandardErrorHandling) async throws -> ProcessResult {
        calls.withLock { $0.append((argv, stdin)) }
        return answer
    }

    func pipe(_ producer: [String], into consumer: [String]) async throws {}
}

/// Facts given by the test; building a disk is refused.
struct GivenTrees: ImageTrees {
    var given: ImageTreeFacts
    func facts(_ sources: [ImageTreeSource]) async throws -> [ImageTreeFacts] { sources.map { _ in given } }
    func buildDirectDisk(_ source: ImageTreeSource, spec: DirectDiskSpec) async throws -> DirectDisk {
        throw ImageTreeError(message: "not in this test")
    }

    func changes(from old: String, to new: String, staging: String) async throws -> ImageChangeSet {
        throw ImageTreeError(message: "not in this test")
    }
}

@Suite struct ImageTreesTests {
    let helper = ["podman", "unshare", "/usr/bin/podman-bootc", "image-tree"]

    @Test func theHelperGetsTheRequestOnStdinAndAnswersInJSON() async throws {
        let facts = [ImageTreeFacts(kernelVersion: "6.1.0-57-amd64", hasBootc: false, declaresRootFilesystem: false)]
        let runner = ScriptedRunner(ProcessResult(status: 0, standardOutput: String(decoding: try JSONEncoder().encode(facts), as: UTF8.self),
                                                  standardError: ""))
        let trees = UserNamespaceImageTrees(runner: runner, helper: helper, ledger: URL(fileURLWithPath: "/c/.mounts"))
        #expect(try await trees.facts([.image(id: "abc123")]) == facts)
        let call = try #require(runner.calls.withLock { $0.first })
        #expect(call.argv == helper)
        let request = try JSONDecoder().decode(ImageTreeRequest.self, from: Data(try #require(call.stdin).utf8))
        #expect(request.facts == [.image(id: "abc123")] && request.ledger == "/c/.mounts" && request.build == nil)
    }

    @Test func theHelpersErrorLineBecomesTheError() async throws {
        let runner = ScriptedRunner(ProcessResult(status: 125, standardOutput: "",
                                                  standardError: "some warning\nError: image x has no kernel (looked for ...)\n"))
        let trees = UserNamespaceImageTrees(runner: runner, helper: helper, ledger: URL(fileURLWithPath: "/c"))
        let spec = DirectDiskSpec(reference: "x", diskSize: .gibibytes(10), architecture: .x86_64, kernelArguments: [], directory: "/c/p")
        await #expect(throws: ImageTreeError(message: "image x has no kernel (looked for ...)")) {
            try await trees.buildDirectDisk(.image(id: "abc"), spec: spec)
        }
        let silent = ScriptedRunner(ProcessResult(status: 1, standardOutput: "", standardError: "cannot find newuidmap\n"))
        await #expect(throws: ImageTreeError(message: "podman unshare failed: cannot find newuidmap")) {
            try await UserNamespaceImageTrees(runner: silent, helper: helper, ledger: URL(fileURLWithPath: "/c")).facts([.image(id: "a")])
        }
    }

    @Test func aRequestIsServedByTheTreesItIsGiven() async throws {
        let given = ImageTreeFacts(kernelVersion: nil, hasBootc: true, declaresRootFilesystem: true)
        let answer = try await ImageTreeRequest(ledger: "/l", facts: [.folder(path: "/a"), .image(id: "b")]).serve(with: GivenTrees(given: given))
        #expect(try JSONDecoder().decode([ImageTreeFacts].self, from: answer) == [given, given])
    }

    @Test func factsOfAFolderAreReadFromIt() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tree-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for file in ["usr/lib/modules/6.9.0/vmlinuz", "usr/bin/bootc"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(file).deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: root.appendingPathComponent(file).path, contents: Data("x".utf8))
        }
        let runner = ScriptedRunner(ProcessResult(status: 0, standardOutput: "", standardError: ""))
        let trees = MountedImageTrees(podman: Podman(runner: runner), runner: runner, ledger: root.appendingPathComponent(".mounts"),
                                      logger: Logger(label: "test"))
        let facts = try await trees.facts([.folder(path: root.path)])
        #expect(facts == [ImageTreeFacts(kernelVersion: "6.9.0", hasBootc: true, declaresRootFilesystem: false)])
        #expect(runner.calls.withLock { $0.isEmpty }, "a folder is read without podman")
    }

    @Test func aUserWithoutAConnectionIsToldHowToInstallABootcImage() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = ScriptedRunner(ProcessResult(status: 0, standardOutput: "", standardError: ""))
        let installer = DiskInstaller(podman: Podman(runner: runner),
                                      trees: GivenTrees(given: ImageTreeFacts(kernelVersion: "6.9", hasBootc: true, declaresRootFilesystem: true)),
                                      rootful: false, runner: runner, cache: DiskCache(directory: dir), logger: Logger(label: "test"))
        let request = InstallRequest(reference: "localhost/bootc:1", image: ImageInspection(id: "abc", digest: nil, repoTags: [], size: 1 << 30),
                                     architecture: .x86_64, diskSize: nil)
        #expect(try await installer.resolveInstaller(request) == .bootc, "auto picks bootc for an image that ships it")
        let error = await #expect(throws: InstallerError.self) { try await installer.install(request, progress: { _ in }) }
        let message = error.map { "\($0)" } ?? ""
        for choice in ["--connection", "--installer direct", "sudo"] { #expect(message.contains(choice), "\(message)") }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "nothing is cached: \(leftovers)")
    }
}

/// Counts the facts it is asked for.
final class CountingTrees: ImageTrees {
    let asked = Mutex<[ImageTreeSource]>([])
    func facts(_ sources: [ImageTreeSource]) async throws -> [ImageTreeFacts] {
        asked.withLock { $0 += sources }
        return sources.map { _ in ImageTreeFacts(kernelVersion: "6.1", hasBootc: false, declaresRootFilesystem: false) }
    }
    func buildDirectDisk(_ source: ImageTreeSource, spec: DirectDiskSpec) async throws -> DirectDisk {
        throw ImageTreeError(message: "not in this test")
    }

    func changes(from old: String, to new: String, staging: String) async throws -> ImageChangeSet {
        throw ImageTreeError(message: "not in this test")
    }
}

@Suite struct RememberedImageTreesTests {
    @Test func factsOfAnImageIDAreReadOnceAndFoldersEveryTime() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("facts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let inner = CountingTrees()
        let trees = RememberedImageTrees(inner, folder: folder)
        let sources: [ImageTreeSource] = [.image(id: "abc123"), .folder(path: "/rootfs"), .image(id: "def456")]
        #expect(try await trees.facts(sources).count == 3)
        #expect(try await trees.facts(sources).count == 3)
        #expect(inner.asked.withLock { $0 } == sources + [.folder(path: "/rootfs")], "the second call read only the folder")
        // A name that is not an image ID is never turned into a path.
        _ = try await trees.facts([.image(id: "../escape")])
        #expect(!FileManager.default.fileExists(atPath: folder.deletingLastPathComponent().appendingPathComponent("escape.json").path))
    }
}
