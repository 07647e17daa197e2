// `--arch` against fakes: which image variant is used or pulled, what is refused before any
// VM exists, and that an image's own platform picks the guest architecture.

import BootcCore
@testable import BootcPipeline
import PipelineFakes
import Podman
import Foundation
import Testing

@Suite struct ArchitectureChoiceTests {
    func request(_ target: String, architecture: Architecture? = nil, accelerator: Accelerator? = nil) -> RunRequest {
        let vm = VMOptions(disk: DiskChoices(architecture: architecture), accelerator: accelerator, removeOnExit: true,
                           sshTimeout: .seconds(30), warmStart: .off)
        return RunRequest(target: target, config: nil, vm: vm, background: false, command: ["true"],
                          ci: CIRun.Options(image: target, command: ["true"], timeout: nil, artifacts: [], logsFolder: nil,
                                            reportFile: nil, jsonSummary: false))
    }

    @Test func aLocalImageOfAnotherArchitectureIsRefusedWithoutPullingOrBooting() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage("localhost/app:latest")
        let error = await #expect(throws: PodmanError.self) {
            try await RunSequence(context: world.context).run(request("localhost/app:latest", architecture: .aarch64))
        }
        #expect(error?.exitCode == ExitStatus.usage)
        #expect("\(error!)".contains("is for amd64, not arm64"))
        #expect(!world.log.all.contains { $0.contains("pull") || $0.hasPrefix("install") || $0.hasPrefix("connect") }, "\(world.log.all)")
        #expect(world.vms.all().isEmpty)
    }

    @Test func aRegistryImageIsPulledForTheArchitectureAskedFor() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage("quay.io/example/app:1")
        // The fake registry has only the amd64 variant: the pull happens, the result is refused.
        await #expect(throws: PodmanError.self) {
            try await RunSequence(context: world.context).run(request("quay.io/example/app:1", architecture: .aarch64))
        }
        #expect(world.log.all.contains("podman image pull --quiet --arch arm64 -- quay.io/example/app:1"), "\(world.log.all)")
        #expect(world.vms.all().isEmpty)
    }

    @Test func theImagesOwnPlatformPicksTheGuestAndKVMIsRefusedForIt() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        let foreign: Architecture = Architecture.host == .x86_64 ? .aarch64 : .x86_64
        world.runner.addImage("localhost/other:latest", architecture: foreign.ociName)
        let error = await #expect(throws: VMError.self) {
            try await RunSequence(context: world.context).run(request("localhost/other:latest", accelerator: .kvm))
        }
        #expect("\(error!)".contains("--accel kvm runs only guests of this host's architecture"))
        #expect(world.vms.all().isEmpty)
        #expect(!world.log.all.contains { $0.hasPrefix("start") }, "\(world.log.all)")

        // Same architecture asked for as the image has: used as it is, under emulation.
        let status = try await RunSequence(context: world.context).run(request("localhost/other:latest", architecture: foreign))
        #expect(status == 0)
        #expect(!world.log.all.contains { $0.contains("pull") })
    }
}
