// The whole run against fakes: the order of its stages, what a run leaves when SSH never
// answers, and the order cleanups run in.

import BootcCore
@testable import BootcPipeline
import PipelineFakes
import Foundation
import Testing

@Suite struct RunSequenceTests {
    static let image = "localhost/test-image:latest"

    func request(_ command: [String], rm: Bool = true, sshTimeout: Duration = .seconds(30)) -> RunRequest {
        RunRequest(target: Self.image, config: nil,
                   vm: VMOptions(removeOnExit: rm, sshTimeout: sshTimeout, warmStart: .off), background: false, command: command,
                   ci: CIRun.Options(image: Self.image, command: command, timeout: nil, artifacts: [], logsFolder: nil,
                                     reportFile: nil, jsonSummary: false))
    }

    @Test func aRmRunGoesStageByStageAndLeavesNothing() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage(Self.image)
        let status = try await RunSequence(context: world.context).run(request(["true"]))
        #expect(status == 0)
        let stages = world.log.all.map { $0.split(separator: " ").first.map(String.init) ?? "" }
            .filter { ["connect", "install", "qemu-img", "createTransient", "ssh", "execute", "remove"].contains($0) }
        #expect(stages == ["connect", "install", "qemu-img", "createTransient", "ssh", "execute", "remove"], "calls: \(world.log.all)")
        #expect(world.log.all.contains("execute true"))
        #expect(world.vms.all().isEmpty)
    }

    @Test func aKeptVMStaysAndItsStatusIsTheCommands() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage(Self.image)
        world.failures.add("execute", FakeError("channel closed"))
        await #expect(throws: FakeError.self) { try await RunSequence(context: world.context).run(request(["false"], rm: false)) }
        #expect(world.vms.all().count == 1, "a kept VM stays after its command failed")
        #expect(!world.log.all.contains { $0.hasPrefix("remove") })
    }

    @Test func aVMThatNeverAnswersSSHIsRemovedEvenWhenKept() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage(Self.image)
        world.failures.add("ssh", FakeError("connection refused"), times: 10_000)
        await #expect(throws: VMError.self) {
            try await RunSequence(context: world.context).run(request(["true"], rm: false, sshTimeout: .seconds(300)))
        }
        // Polled every 200 ms of the (virtual) five minutes, then given up.
        #expect(world.log.count("ssh") == 1500, "attempts: \(world.log.count("ssh"))")
        #expect(world.clock.slept >= .seconds(300))
        #expect(world.log.all.last?.hasPrefix("remove") == true, "calls: \(world.log.all)")
        #expect(world.vms.all().isEmpty)
    }

    /// `cache warm`: boot, save the state with no SSH session open, remove the VM; a second
    /// call finds the state and boots nothing.
    @Test func cacheWarmSavesAStateAndRemovesItsVM() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage(Self.image)
        let sequence = RunSequence(context: world.context)
        let key = try await sequence.warm(Self.image, config: nil, options: VMOptions(removeOnExit: false))
        let calls = world.log.all
        let disconnect = try #require(calls.firstIndex(of: "disconnect"), "calls: \(calls)")
        let save = try #require(calls.firstIndex { $0.hasPrefix("save ") })
        #expect(disconnect < save, "the state was saved with an SSH session open: \(calls)")
        #expect(calls.last?.hasPrefix("remove") == true && world.vms.all().isEmpty)
        #expect(try await sequence.warm(Self.image, config: nil, options: VMOptions(removeOnExit: false)) == key)
        #expect(world.log.count("createTransient") == 1)
    }

    @Test func sshIsPolledUntilTheGuestAnswers() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage(Self.image)
        world.failures.add("ssh", FakeError("connection reset"), times: 3)
        #expect(try await RunSequence(context: world.context).run(request(["true"], sshTimeout: .seconds(600))) == 0)
        #expect(world.log.count("ssh") == 4)
    }

    @Test func cleanupsRunNewestFirstAndOnlyOnce() async {
        let cleanup = InterruptCleanup()
        let log = CallLog()
        let first = cleanup.register { log.add("unmount image") }
        _ = cleanup.register { log.add("remove VM") }
        let third = cleanup.register { log.add("resume guest") }
        cleanup.discard(third)
        await cleanup.runAll()
        #expect(log.all == ["remove VM", "unmount image"])
        await cleanup.run(first)
        #expect(log.all.count == 2, "a cleanup ran twice")
    }

    /// A cancelled scope undoes its work before the cancellation reaches the caller; a scope
    /// that ends on its own drops its undo.
    @Test func cancellationRunsTheGuardedUndoInOrder() async {
        let cleanup = InterruptCleanup()
        let log = CallLog()
        let started = AsyncStream<Void>.makeStream()
        let task = Task {
            try await cleanup.guarding({ log.add("unmount image") }) {
                try await cleanup.guarding({ log.add("remove VM") }) {
                    started.continuation.yield()
                    try await Task.sleep(for: .seconds(60))
                }
            }
        }
        for await _ in started.stream { break }
        task.cancel()
        _ = await task.result
        #expect(log.all == ["remove VM", "unmount image"])
        _ = try? await cleanup.guarding({ log.add("never") }) { log.add("done") }
        #expect(log.all.last == "done" && cleanup.isEmpty)
    }

    /// A signal kills our programs before it cancels the run: a step that fails because its
    /// program died still unwinds as interrupted (the image it mounted is unmounted).
    @Test func aStepWhoseProgramWasKilledUnwindsAsInterrupted() async {
        let cleanup = InterruptCleanup()
        let log = CallLog()
        _ = try? await cleanup.guarding({ log.add("kept") }) { throw FakeError("mkfs failed") }
        #expect(log.all.isEmpty, "an ordinary failure ran the undo")
        cleanup.markInterrupted()
        _ = try? await cleanup.guarding({ log.add("unmount image") }) { throw FakeError("mkfs killed by SIGTERM") }
        #expect(log.all == ["unmount image"])
    }

    @Test func theDeadlineCancelsTheRunAndWaitsForItToUnwind() async {
        let log = CallLog()
        let started = ContinuousClock.now
        await #expect(throws: DeadlineExceeded.self) {
            // Not the real terminateAll: it would stop what parallel tests of this process run.
            try await Deadline.race(.milliseconds(100), cleanup: InterruptCleanup(), stopChildren: { log.add("children stopped") }) {
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    log.add("unwound")
                    throw error
                }
            }
        }
        #expect(log.all == ["children stopped", "unwound"])
        #expect(ContinuousClock.now - started < .seconds(30))
        let quick = try? await Deadline.race(.seconds(60), cleanup: InterruptCleanup(), stopChildren: { log.add("stopped early") }) { 7 }
        #expect(quick == 7)
        #expect(log.all == ["children stopped", "unwound"])
    }
}

/// --network: what the domain gets, and how a VM without a network card runs a command.
@Suite struct NetworkModeTests {
    func request(_ network: NetworkMode, command: [String] = ["true"]) -> RunRequest {
        var vm = VMOptions(removeOnExit: true, warmStart: .auto)
        vm.network = network
        return RunRequest(target: RunSequenceTests.image, config: nil, vm: vm, background: false, command: command,
                          ci: CIRun.Options(image: RunSequenceTests.image, command: command, timeout: nil, artifacts: [], logsFolder: nil,
                                            reportFile: nil, jsonSummary: false))
    }

    @Test func aVMWithoutANetworkCardRunsItsCommandThroughTheQemuGuestAgent() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage(RunSequenceTests.image)
        let status = try await RunSequence(context: world.context).run(request(.none))
        #expect(status == 0)
        let calls = world.log.all
        #expect(calls.contains { $0.hasPrefix("qga guest-ping") } && calls.contains { $0.hasPrefix("qga guest-exec ") }, "\(calls)")
        #expect(!calls.contains { $0.hasPrefix("ssh ") }, "no SSH without a network card: \(calls)")
        #expect(!calls.contains { $0.contains("incoming") }, "no warm start without a network card")
        #expect(world.vms.all().isEmpty)
    }

    @Test func optionsThatNeedSSHAreRefusedWithoutANetworkCard() async throws {
        let world = try FakeWorld()
        defer { world.cleanUp() }
        world.runner.addImage(RunSequenceTests.image)
        var request = request(.none)
        request.vm.forwards = [try #require(PortForward(parsing: "8080:80"))]
        await #expect(throws: VMError.self) { try await RunSequence(context: world.context).run(request) }
        #expect(!world.log.all.contains { $0.hasPrefix("createTransient") })
    }
}
