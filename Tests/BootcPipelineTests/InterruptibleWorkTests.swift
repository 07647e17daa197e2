// Synchronous work a signal must not wait for: the caller's cancellation ends the wait at
// once, whatever the work is doing; work that finishes gives its answer or its error.

@testable import BootcPipeline
import Foundation
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1))) struct InterruptibleWorkTests {
    struct Broken: Error {}

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    @Test func answersAndErrorsComeThrough() async throws {
        #expect(try await InterruptibleWork.run { 6 * 7 } == 42)
        await #expect(throws: Broken.self) { try await InterruptibleWork.run { () throws -> Int in throw Broken() } }
    }

    /// A loop that never looks at cancellation (what a parse of a huge file is) stops being
    /// waited for within milliseconds of the cancel.
    @Test func cancellationEndsTheWaitForBusyWork() async throws {
        let stop = Flag()
        defer { stop.set() }
        let task = Task {
            try await InterruptibleWork.run {
                var spins = 0
                while !stop.isSet { spins &+= 1 }
                return spins
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        let cancelled = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - cancelled < .milliseconds(500))
        #expect(throws: CancellationError.self) { try result.get() }
    }

    @Test func anAlreadyCancelledTaskDoesNotStartTheWork() async throws {
        let started = Flag()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await InterruptibleWork.run { started.set() }
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(!started.isSet)
    }
}
