// The connect stage: poll the guest's SSH server until it authenticates, the VM stops, or
// the timeout passes.

import BootcCore
import Foundation

struct SSHWaiter: Sendable {
    let context: PipelineContext

    /// The VM's own login: its user, its key, its pinned host key.
    func login(for vm: LaunchedVM) throws -> GuestLogin {
        try context.guestLogin(for: vm.record)
    }

    /// Each failed attempt is cheap (the guest refuses while it has no sshd), so attempts are
    /// 200 ms apart; within one, a connection the guest leaves silent (its network not up
    /// yet) is joined by a new one every 500 ms, so the first that greets is used.
    func waitForSSH(_ vm: LaunchedVM, timeout: Duration, login: GuestLogin? = nil, announce: Bool = true) async throws -> any GuestSession {
        let progress = announce ? context.progress : ProgressReporter.silent
        let record = vm.record
        var login = try login ?? self.login(for: vm)
        login.reconnectWhileSilent = .milliseconds(500)
        let clock = context.clock
        let deadline = clock.now + timeout
        var lastError = "no attempt"
        var first = true
        while clock.now < deadline {
            progress.waiting("Waiting for SSH on 127.0.0.1:\(record.sshPort)", first: first)
            first = false
            guard await vm.domain.isActive() else {
                progress.doneWaiting()
                showConsoleTail(vm.consoleLog)
                throw VMError.stoppedWhileBooting(name: record.name, consoleLog: vm.consoleLog.path)
            }
            if record.secureBoot == true, let refusal = ConsoleLog.firmwareRefusal(vm.consoleLog) {
                // The firmware would go on to other boot options (network, its shell) for minutes.
                progress.doneWaiting()
                showConsoleTail(vm.consoleLog)
                throw VMError.firmwareRefused(name: record.name, line: refusal, consoleLog: vm.consoleLog.path)
            }
            let attemptTimeout = min(deadline - clock.now, .seconds(10))
            do {
                let session = try await context.guestShell.connect(login, timeout: attemptTimeout)
                progress.doneWaiting()
                progress.stage("SSH ready")
                return session
            } catch let mismatch as any GuestHostKeyRejected {
                throw Self.explained(mismatch, for: record)
            } catch {
                lastError = "\(error)"
                context.logger.debug("ssh attempt failed", metadata: ["error": "\(error)"])
            }
            try await clock.sleep(for: .milliseconds(200))
        }
        progress.doneWaiting()
        showConsoleTail(vm.consoleLog)
        let timedOut = VMError.sshTimeout(name: record.name, seconds: timeout.wholeSeconds, port: record.sshPort,
                                          lastError: lastError, consoleLog: vm.consoleLog.path)
        // SSH answered but would not let us in: the guest never took its key.
        if record.selinux == "enforcing", lastError.contains("authentication") {
            throw VMError.enforcingGuestWithoutKeys(name: record.name, failure: timedOut.description)
        }
        throw timedOut
    }

    /// A refused host key from a guest whose image runs SELinux enforcing says what may be why.
    static func explained(_ error: any GuestHostKeyRejected, for record: VMRecord) -> any Error {
        guard record.selinux == "enforcing", error.isOtherHostKey else { return error }
        return VMError.enforcingGuestWithoutKeys(name: record.name, failure: "\(error)".trimmingCharacters(in: CharacterSet(charactersIn: ".")))
    }

    private func showConsoleTail(_ log: URL) {
        let lines = ConsoleLog.tail(log)
        guard !lines.isEmpty else { return }
        context.progress.notice("--- last lines of the serial console ---\n" + lines.joined(separator: "\n") + "\n---")
    }
}
