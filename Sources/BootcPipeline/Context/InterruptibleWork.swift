// Synchronous work that only the input bounds (parsing a project, generating and hashing it,
// a whole synchronous command) never looks at its task's cancellation, so a signal would wait
// for it to finish. It runs on its own thread instead; a cancelled caller stops waiting at once
// and unwinds, and the process exits after its cleanups, leaving the thread's answer unread.
// Only for work whose abandoned remainder harms nothing: reading, computing, writing its own
// output files.

import Foundation
import Synchronization

package enum InterruptibleWork {
    /// Deep YAML nesting recurses in the parser; the thread gets room for it.
    static let stackSize = 64 << 20

    /// Runs `body` on its own thread; throws `CancellationError` as soon as the calling task is
    /// cancelled (or already was), whether or not `body` has finished.
    package static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try Task.checkCancellation()
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.wait(continuation)
                let thread = Thread { outcome.finish(Result { try body() }) }
                thread.stackSize = stackSize
                thread.start()
            }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }
}

/// The first of two answers (the work's own, or cancellation) resumes the waiting task; the
/// other is dropped.
private final class Outcome<T: Sendable>: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<T, any Error>)
        case done(Result<T, any Error>)
        case delivered
    }

    private let state = Mutex<State>(.pending)

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            guard case .done(let result) = state else {
                state = .waiting(continuation)
                return nil
            }
            state = .delivered
            return result
        }
        if let early { continuation.resume(with: early) }
    }

    func finish(_ result: Result<T, any Error>) {
        let waiting: CheckedContinuation<T, any Error>? = state.withLock { state in
            switch state {
            case .pending:
                state = .done(result)
                return nil
            case .waiting(let continuation):
                state = .delivered
                return continuation
            case .done, .delivered:
                return nil
            }
        }
        waiting?.resume(with: result)
    }
}
