// How long each stage of a run took (build, install, boot, ssh, command, ...).

import BootcCore
import Foundation
import Synchronization

/// Stage timings: each `begin` ends the stage before it.
package final class StageTimer: Sendable {
    private struct State {
        var stages: [RunReport.Stage] = []
        var current: (name: String, since: ContinuousClock.Instant)?
    }
    private let state = Mutex(State())
    let started = ContinuousClock.now
    let startDate = Date()

    func begin(_ name: String) {
        state.withLock { state in
            Self.close(&state)
            state.current = (name, .now)
        }
    }

    /// Ends the current stage and returns them all.
    func finish() -> [RunReport.Stage] {
        state.withLock { state in
            Self.close(&state)
            return state.stages
        }
    }

    var seconds: Double { (ContinuousClock.now - started).seconds }

    private static func close(_ state: inout State) {
        guard let current = state.current else { return }
        state.stages.append(RunReport.Stage(name: current.name, seconds: (ContinuousClock.now - current.since).seconds))
        state.current = nil
    }
}

extension Duration {
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

