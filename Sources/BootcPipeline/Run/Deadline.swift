// `run --timeout`: the run is a task raced by a sleep. When the sleep wins, our child
// processes are stopped, the run is cancelled and unwinds (its cleanups awaited), and the
// caller gets DeadlineExceeded (exit 124, as timeout(1)).

import BootcCore
import Foundation
import Host

package struct DeadlineExceeded: ToolError {
    package var timeout: Duration
    package var exitCode: Int32 { ExitStatus.timeout }
    package var description: String {
        "the run did not finish within \(timeout.wholeSeconds)s (--timeout); the VM was destroyed"
    }
}

enum Deadline {
    /// `body`'s result, or DeadlineExceeded once `body` has unwound after `timeout`.
    static func race<T: Sendable>(_ timeout: Duration?, clock: any PipelineClock = SystemClock(),
                                  cleanup: InterruptCleanup = .shared,
                                  stopChildren: @escaping @Sendable () -> Void = { ChildProcesses.terminateAll() },
                                  _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        guard let timeout else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await clock.sleep(for: timeout)
                return nil
            }
            if let first = try await group.next(), let result = first {
                group.cancelAll()
                return result
            }
            // The deadline: stop what we started (podman build's RUN step too), then the run.
            cleanup.markInterrupted()
            _ = try? await Blocking.run { stopChildren() }
            group.cancelAll()
            while (try? await group.next()) != nil {}
            throw DeadlineExceeded(timeout: timeout)
        }
    }
}
