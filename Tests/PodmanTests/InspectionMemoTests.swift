// The inspection memo: podman is asked again whenever its image store (or its storage
// configuration) changed, and only fully qualified references are kept.

import Foundation
import Host
@testable import Podman
import Synchronization
import Testing

@Suite struct InspectionMemoTests {
    /// A podman whose only answer is one inspection; counts how often it was asked.
    final class CountingRunner: ProcessRunner, Sendable {
        private let count = Mutex(0)
        let output: String
        init(output: String) { self.output = output }
        var calls: Int { count.withLock { $0 } }
        func run(_ argv: [String], stdin: String?, stderr: StandardErrorHandling) async throws -> ProcessResult {
            count.withLock { $0 += 1 }
            return ProcessResult(status: 0, standardOutput: output, standardError: "")
        }
        func pipe(_ producer: [String], into consumer: [String]) async throws {}
    }

    /// A fake storage: <folder>/storage/overlay-images/images.json and an inspection whose
    /// layer lives under <folder>/storage/overlay.
    static func storage() throws -> (folder: URL, images: URL, json: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("memo-\(UUID().uuidString)")
        let images = folder.appendingPathComponent("storage/overlay-images/images.json")
        try FileManager.default.createDirectory(at: images.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("[]".utf8).write(to: images)
        let upper = folder.appendingPathComponent("storage/overlay/abc/diff").path
        let json = #"[{"Id": "5f2c", "GraphDriver": {"Name": "overlay", "Data": {"UpperDir": "\#(upper)"}}}]"#
        return (folder, images, json)
    }

    @Test func asksAgainOnlyWhenTheStoreChanged() async throws {
        let (folder, images, json) = try Self.storage()
        defer { try? FileManager.default.removeItem(at: folder) }
        let runner = CountingRunner(output: json)
        let memo = InspectionMemo(file: folder.appendingPathComponent("memo.json"), environment: ["HOME": folder.path])
        let podman = Podman(runner: runner, memo: memo)
        let reference = "localhost/app:1"
        #expect(try await podman.inspect(reference)?.id == "5f2c")
        #expect(try await podman.inspect(reference)?.id == "5f2c")
        #expect(runner.calls == 1)
        // A pull, build, tag or removal rewrites images.json (a new file renamed over it).
        try Data("[{}]".utf8).write(to: images, options: .atomic)
        #expect(try await podman.inspect(reference)?.id == "5f2c")
        #expect(runner.calls == 2)
        // So does a storage.conf that appears (it may move the store).
        let configuration = folder.appendingPathComponent(".config/containers/storage.conf")
        try FileManager.default.createDirectory(at: configuration.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("[storage]\n".utf8).write(to: configuration)
        _ = try await podman.inspect(reference)
        #expect(runner.calls == 3)
    }

    @Test func keepsNoShortNamesAndNoOtherEndpoint() async throws {
        let (folder, _, json) = try Self.storage()
        defer { try? FileManager.default.removeItem(at: folder) }
        let memo = InspectionMemo(file: folder.appendingPathComponent("memo.json"), environment: ["HOME": folder.path])
        let runner = CountingRunner(output: json)
        let local = Podman(runner: runner, memo: memo)
        _ = try await local.inspect("fedora")
        _ = try await local.inspect("fedora")
        #expect(runner.calls == 2)
        let other = Podman(runner: runner, endpoint: .connection("machine"), memo: memo)
        _ = try await other.inspect("quay.io/a/b:1")
        _ = try await other.inspect("quay.io/a/b:1")
        #expect(runner.calls == 4)
    }

    @Test(arguments: [("localhost/a:1", true), ("quay.io/a/b", true), ("host:5000/a", true), ("fedora", false),
                      ("library/fedora", false), (String(repeating: "a", count: 64), true)])
    func keptReferences(reference: String, kept: Bool) {
        #expect(InspectionMemo.isKept(reference) == kept)
    }

    @Test func aDamagedMemoIsIgnored() async throws {
        let (folder, _, json) = try Self.storage()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("memo.json")
        try Data("{not json".utf8).write(to: file)
        let runner = CountingRunner(output: json)
        let podman = Podman(runner: runner, memo: InspectionMemo(file: file, environment: ["HOME": folder.path]))
        #expect(try await podman.inspect("localhost/a:1")?.id == "5f2c")
        #expect(runner.calls == 1)
    }
}

extension InspectionMemoTests {
    /// Where one images.json does not say it all, nothing is kept.
    @Test func keepsNothingWithAdditionalStoresOrAnotherService() async throws {
        let (folder, _, json) = try Self.storage()
        defer { try? FileManager.default.removeItem(at: folder) }
        let configuration = folder.appendingPathComponent(".config/containers/storage.conf")
        try FileManager.default.createDirectory(at: configuration.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("[storage.options]\nadditionalimagestores = [\n  \"/var/lib/shared\",\n]\n".utf8).write(to: configuration)
        let runner = CountingRunner(output: json)
        let withStores = Podman(runner: runner, memo: InspectionMemo(file: folder.appendingPathComponent("memo.json"), environment: ["HOME": folder.path]))
        _ = try await withStores.inspect("localhost/a:1")
        _ = try await withStores.inspect("localhost/a:1")
        #expect(runner.calls == 2)
        try Data("[storage.options]\nadditionalimagestores = []\n".utf8).write(to: configuration)
        _ = try await withStores.inspect("localhost/a:1")
        _ = try await withStores.inspect("localhost/a:1")
        #expect(runner.calls == 3, "an empty list is no additional store")
        let remote = Podman(runner: runner, memo: InspectionMemo(file: folder.appendingPathComponent("memo2.json"),
                                                                 environment: ["HOME": folder.path, "CONTAINER_HOST": "ssh://host/run/podman.sock"]))
        _ = try await remote.inspect("localhost/a:1")
        _ = try await remote.inspect("localhost/a:1")
        #expect(runner.calls == 5)
    }
}
