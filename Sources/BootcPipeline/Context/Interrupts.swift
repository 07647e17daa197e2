// Ctrl-C, SIGTERM and SIGHUP, and the --timeout deadline, as structured concurrency: the
// command runs as a task; a signal stops our child processes and cancels that task; the
// cancellation reaches libssh2 (the socket is shut down) and libvirt (a state transfer's
// domain is destroyed, a console session ends); each scope undoes its own work while it
// unwinds, newest first, awaited; only then does the process exit, from the command's own
// flow (never from a signal thread: a second signal only says the cleanup is under way).

import Dispatch
import Foundation
import Host
import Synchronization

/// What must be undone when a run is cancelled (a mounted image, a paused guest, a VM being
/// restored). Scopes register with `guarding`; the supervisor runs whatever is left.
package final class InterruptCleanup: Sendable {
    package static let shared = InterruptCleanup()

    private let actions = Mutex<[Int: @Sendable () async -> Void]>([:])
    private let nextID = Atomic<Int>(0)
    private let interrupting = Atomic<Bool>(false)

    init() {}

    /// Registers `action`; returns a token to run or drop it later.
    func register(_ action: @escaping @Sendable () async -> Void) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        actions.withLock { $0[id] = action }
        return id
    }

    /// Runs the action now, unless it ran already.
    func run(_ id: Int) async {
        let action = actions.withLock { $0.removeValue(forKey: id) }
        await action?()
    }

    /// Forgets the action without running it (what it guarded against can no longer happen).
    func discard(_ id: Int) {
        _ = actions.withLock { $0.removeValue(forKey: id) }
    }

    /// Runs every registered action, newest first.
    func runAll() async {
        let pending = actions.withLock { actions in
            defer { actions.removeAll() }
            return actions.sorted { $0.key > $1.key }.map(\.value)
        }
        for action in pending { await action() }
    }

    var isEmpty: Bool { actions.withLock { $0.isEmpty } }

    /// Says the run is being stopped (a signal, the deadline), before our child processes are
    /// killed: a step that then fails because its program died unwinds as cancelled, not as
    /// an ordinary failure, even if the task's cancellation has not reached it yet.
    func markInterrupted() {
        interrupting.store(true, ordering: .releasing)
    }

    /// The run is being stopped: cancelled, or about to be.
    var isInterrupted: Bool {
        Task.isCancelled || interrupting.load(ordering: .acquiring)
    }

    /// Runs `body` with `undo` registered: dropped when the body returns or fails on its own,
    /// run (awaited) when the body ends because its task was cancelled.
    func guarding<T>(_ undo: @escaping @Sendable () async -> Void, _ body: () async throws -> T) async throws -> T {
        let id = register(undo)
        do {
            let result = try await body()
            discard(id)
            return result
        } catch {
            if isInterrupted { await run(id) } else { discard(id) }
            throw error
        }
    }
}

/// Runs a command as a task that SIGINT, SIGTERM and SIGHUP cancel.
package enum CommandSupervisor {
    /// How a supervised command ended.
    package enum Ending: Sendable {
        case finished(Result<Void, any Error>)
        /// A signal cancelled it; it has unwound and its cleanups have run.
        case interrupted(signal: Int32)
    }

    /// Runs `body`; returns once it has ended, however it ended.
    package static func run(_ body: @escaping @Sendable () async throws -> Void) async -> Ending {
        signal(SIGPIPE, SIG_IGN)
        let received = ReceivedSignal()
        let task = Task { try await body() }
        let sources = [SIGINT, SIGTERM, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                guard received.number.compareExchange(expected: 0, desired: number, ordering: .acquiringAndReleasing).exchanged else {
                    // Exiting now would leave what the cleanup is removing (a VM, a mount).
                    FileHandle.standardError.write(Data("\nstill cleaning up; podman-bootc exits when done\n".utf8))
                    return
                }
                TerminalState.restore()
                if !InterruptCleanup.shared.isEmpty {
                    FileHandle.standardError.write(Data("\ninterrupted: cleaning up\n".utf8))
                }
                // The programs we started stop first, so none writes into what cleanups remove.
                InterruptCleanup.shared.markInterrupted()
                ChildProcesses.terminateAll()
                task.cancel()
            }
            source.resume()
            return source
        }
        let result = await task.result
        sources.forEach { $0.cancel() }
        let number = received.number.load(ordering: .acquiring)
        guard number != 0 else { return .finished(result) }
        await InterruptCleanup.shared.runAll()
        return .interrupted(signal: number)
    }
}

private final class ReceivedSignal: Sendable {
    let number = Atomic<Int32>(0)
}

/// Ends the process. `_exit`, not `exit`: exit's handlers (OpenSSL's cleanup among them) tear
/// down libraries that a detached thread may still be using (a session being freed).
package func exitNow(_ status: Int32) -> Never {
    fflush(nil)
    _exit(status)
}
