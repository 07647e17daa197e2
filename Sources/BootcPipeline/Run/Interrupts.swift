// Ctrl-C, SIGTERM and SIGHUP: undo what must not outlive us, restore the terminal, exit.

import Dispatch
import Foundation
import Host
import Synchronization

/// Cleanup actions that must run if we are interrupted (e.g. removing a `--rm` VM).
/// Registered actions run once, either at interrupt or when the caller finishes normally.
package final class InterruptCleanup: Sendable {
    package static let shared = InterruptCleanup()

    private let actions = Mutex<[Int: @Sendable () async -> Void]>([:])
    private let nextID = Atomic<Int>(0)
    private let sources = Mutex<[any DispatchSourceSignal]>([])
    /// Set once a signal or a deadline took over: from then on only its handler ends the process.
    private let takenOver = Atomic<Bool>(false)

    /// Installs the signal handlers once. SIGPIPE is ignored so a closed pipe is an error we see.
    package func install() {
        signal(SIGPIPE, SIG_IGN)
        sources.withLock { sources in
            guard sources.isEmpty else { return }
            for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { [self] in interrupted(by: signalNumber) }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// Registers `action`; returns a token to run or drop it later.
    func register(_ action: @escaping @Sendable () async -> Void) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        actions.withLock { $0[id] = action }
        return id
    }

    /// Runs the action now (normal exit path), unless an interrupt already ran it.
    func run(_ id: Int) async {
        let action = actions.withLock { $0.removeValue(forKey: id) }
        await action?()
    }

    /// Forgets the action without running it (what it guarded against can no longer happen).
    func discard(_ id: Int) {
        _ = actions.withLock { $0.removeValue(forKey: id) }
    }

    /// Runs every registered action, newest first (also for `run --timeout`).
    func runAll() async {
        let pending = actions.withLock { actions in
            defer { actions.removeAll() }
            return actions.sorted { $0.key > $1.key }.map(\.value)
        }
        for action in pending { await action() }
    }

    /// runAll from a thread outside Swift's pool (a signal or deadline handler): waits for it.
    func runAllWaiting() {
        let done = DispatchSemaphore(value: 0)
        Task.detached { [self] in
            await runAll()
            done.signal()
        }
        done.wait()
    }

    /// Ends the process with `status`, unless a signal is being handled: its handler is still
    /// stopping our children and removing what must not outlive us, and it exits (128+signal)
    /// when done. Without the wait, a command that saw its `podman build` die of our SIGTERM
    /// exited first, and the build's RUN step (killed only after the grace) outlived us.
    package func finish(_ status: Int32) -> Never {
        if takenOver.load(ordering: .acquiring) {
            while true { pause() }
        }
        exitNow(status)
    }

    /// Claims the end of the process for a signal or deadline handler; false if another
    /// handler already did (a second signal while cleaning up changes nothing).
    func takeOver() -> Bool {
        !takenOver.exchange(true, ordering: .acquiringAndReleasing)
    }

    private func interrupted(by signalNumber: Int32) {
        guard takeOver() else { return }
        TerminalState.restore()
        if actions.withLock({ !$0.isEmpty }) {
            FileHandle.standardError.write(Data("\ninterrupted: cleaning up\n".utf8))
        }
        // The programs we started stop first, so none writes into what the actions remove.
        ChildProcesses.terminateAll()
        runAllWaiting()
        exitNow(128 + signalNumber)
    }
}

/// Ends the process. `_exit`, not `exit`: exit's handlers (OpenSSL's cleanup among them) tear
/// down libraries that other threads may still be using; that crashed a --timeout run whose
/// SSH session was closing, and detached runs whose session was being freed on another task.
func exitNow(_ status: Int32) -> Never {
    fflush(nil)
    _exit(status)
}
