// Resolve, build and install against fakes: what `run --dry-run` answers for each kind of
// image, that a root filesystem folder reaches the installer from `run` and `cache add`
// alike, and that a layer project's bases are built before the image.

import BootcCore
@testable import BootcPipeline
import PipelineFakes
import Foundation
import Installer
import Podman
import Testing

@Suite struct PlanTests {
    /// A folder with files the way a test lays them out.
    func folder(_ world: FakeWorld, _ name: String, _ files: [String: String]) throws -> URL {
        let folder = world.root.appendingPathComponent(name)
        for (path, text) in files {
            let url = folder.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: false, encoding: .utf8)
        }
        return folder
    }

    func rootFilesystem(_ world: FakeWorld) throws -> URL {
        try folder(world, "rootfs", ["usr/lib/modules/6.1.0/vmlinuz": "kernel", "etc/os-release": "ID=debian\n", "usr/bin/sh": "#!"])
    }

    func dryRun(_ world: FakeWorld, _ target: String, config: String? = nil) async throws -> DryRunReport {
        try await RunSequence(context: world.context).dryRun(target, config: config, disk: DiskChoices())
    }

    @Test func aReferenceInStorageIsPlannedByTheInstaller() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage("localhost/present:latest")
        let report = try await dryRun(world, "localhost/present:latest")
        #expect(report.build == nil && report.reason == "planned by the fake" && report.key == "fake-key")
        #expect(world.disks.requests.map(\.reference) == ["localhost/present:latest"])
    }

    @Test func aMissingRegistryImageWouldBePulledAndALocalOneIsNotFound() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let registry = try await dryRun(world, "quay.io/fedora/fedora-bootc:42")
        #expect(registry.reason.contains("run would pull it") && !registry.reuse)
        await #expect(throws: PodmanError.self) { try await dryRun(world, "localhost/absent:latest") }
        #expect(world.disks.requests.isEmpty, "nothing is planned for an image that is not here")
    }

    @Test func aContainerfileFolderIsBuiltFirstAndNothingRuns() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let app = try folder(world, "app", ["Containerfile": "FROM scratch\n"])
        let report = try await dryRun(world, app.path)
        #expect(report.image == "localhost/app:latest")
        #expect(report.build?.build == true && report.reason.contains("built first"))
        #expect(world.log.all.isEmpty, "a dry run ran: \(world.log.all)")
    }

    @Test func aRootFilesystemFolderIsPlannedAsAFolder() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let root = try rootFilesystem(world)
        _ = try await dryRun(world, root.path)
        #expect(world.disks.requests.map(\.rootFilesystem?.path) == [root.path])
    }

    @Test func aBuildUnitIsBuiltWhenItsImageIsMissing() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let unit = try folder(world, "units", ["web.build": "[Build]\nImageTag=localhost/web:latest\nFile=Containerfile\nSetWorkingDirectory=unit\n",
                                               "Containerfile": "FROM scratch\n"])
        let report = try await dryRun(world, unit.appendingPathComponent("web.build").path)
        #expect(report.image == "localhost/web:latest" && report.build?.build == true)
    }

    func layerProject(_ world: FakeWorld) throws -> URL {
        try folder(world, "project", [
            "images.yml": "defaults:\n  pkg: deb\nimages:\n  base-os:\n    base: localhost/distro:latest\n    layers: [tool]\n  app:\n    base: base-os\n    layers: [tool]\n",
            "layers/tool/layer.yml": "deb:\n  packages: [curl]\n",
        ]).appendingPathComponent("images.yml")
    }

    @Test func aLayerImageIsBuiltAndItsProjectNotWrittenByADryRun() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let images = try layerProject(world)
        let report = try await dryRun(world, "app", config: images.path)
        #expect(report.image == "localhost/app:latest" && report.build?.build == true)
        #expect(!FileManager.default.fileExists(atPath: images.deletingLastPathComponent().appendingPathComponent(".build").path))
        #expect(world.log.all.isEmpty, "a dry run ran: \(world.log.all)")
    }

    @Test func basesAreBuiltBeforeTheImage() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let images = try layerProject(world)
        let image = try await RunSequence(context: world.context).prepareImage("app", config: images.path)
        #expect(image == .reference("localhost/app:latest"))
        let builds = world.log.all.filter { $0.hasPrefix("podman build") }
        #expect(builds.count == 2, "builds: \(builds)")
        #expect(builds.first?.contains("localhost/base-os:latest") == true && builds.last?.contains("localhost/app:latest") == true, "order: \(builds)")
        // Built and labelled: the next prepare builds nothing.
        _ = try await RunSequence(context: world.context).prepareImage("app", config: images.path)
        #expect(world.log.all.filter { $0.hasPrefix("podman build") }.count == 2)
    }

    /// c0 on an outside image, c1 on c0, ... c(count-1) on the one before.
    func chainProject(_ world: FakeWorld, count: Int) throws -> URL {
        var yaml = "defaults:\n  pkg: deb\nimages:\n  c0:\n    base: localhost/distro:latest\n    layers: [tool]\n"
        for index in 1..<count { yaml += "  c\(index):\n    base: c\(index - 1)\n    layers: [tool]\n" }
        return try folder(world, "chain", ["images.yml": yaml, "layers/tool/layer.yml": "deb:\n  packages: [curl]\n"])
            .appendingPathComponent("images.yml")
    }

    /// Each base used to plan its own bases again (2^N plans, each generating the project and
    /// inspecting its image): c10 took 45 s, c39 never ended. A dry run plans the image once.
    @Test(.timeLimit(.minutes(1))) func aLongChainIsPlannedOnceQuickly() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let images = try chainProject(world, count: 100)
        let started = ContinuousClock.now
        let report = try await dryRun(world, "c99", config: images.path)
        let elapsed = ContinuousClock.now - started
        #expect(report.image == "localhost/c99:latest" && report.build?.build == true)
        #expect(world.runner.inspections == ["localhost/c99:latest"], "inspected: \(world.runner.inspections.count)")
        // 0.08 s when this test runs alone (debug build); 1.6 s beside the other suites on two
        // loaded cores. The 2^N planner never ended; FuzzTests holds the binary to 1 s.
        #expect(elapsed < .seconds(10), "planning c99 took \(elapsed)")
    }

    /// Building a chain builds and inspects each image once, bases first.
    @Test(.timeLimit(.minutes(1))) func aChainIsBuiltOnceBaseByBase() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let images = try chainProject(world, count: 40)
        _ = try await RunSequence(context: world.context).prepareImage("c39", config: images.path)
        let built = world.log.all.filter { $0.hasPrefix("podman build") }.compactMap { $0.split(separator: " ").dropFirst(3).first.map(String.init) }
        #expect(built == (0..<40).map { "localhost/c\($0):latest" }, "built: \(built)")
        #expect(world.runner.inspections == (0..<40).map { "localhost/c\($0):latest" }, "inspected: \(world.runner.inspections)")
    }

    @Test func aRootFilesystemFolderReachesTheInstallerFromRunAndCacheAddAlike() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let root = try rootFilesystem(world)
        let sequence = RunSequence(context: world.context)
        _ = try await sequence.installDisk(root.path, config: nil, choices: DiskChoices())
        let image = try await sequence.prepareImage(root.path, config: nil)
        #expect(image.name == root.path)
        _ = try await sequence.launch(image, VMOptions(removeOnExit: true, warmStart: .off))
        let requests = world.disks.requests
        #expect(requests.count == 2)
        #expect(requests.allSatisfy { $0.rootFilesystem?.path == root.path && $0.reference == root.path }, "requests: \(requests.map(\.reference))")
        #expect(!world.log.all.contains { $0.hasPrefix("podman") }, "podman was asked about a folder: \(world.log.all)")
    }
}
