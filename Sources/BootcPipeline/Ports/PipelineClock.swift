// Time where the pipeline waits (SSH polling, shutdown, --timeout, logs -f): a port, so tests
// can let minutes pass at once.

import Foundation

package protocol PipelineClock: Sendable {
    var now: ContinuousClock.Instant { get }
    /// Sleeps; throws CancellationError when the task is cancelled.
    func sleep(for duration: Duration) async throws
}

/// The live clock: ContinuousClock and Task.sleep.
package struct SystemClock: PipelineClock {
    package init() {}
    package var now: ContinuousClock.Instant { .now }
    package func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
