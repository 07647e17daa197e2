// The live GuestShell: libssh2. With Blocking, the only place libssh2's blocking calls leave
// the cooperative pool.

import BootcCore
import Foundation
import Host
import SSH

extension HostKeyMismatch: GuestHostKeyRejected {
    package var isOtherHostKey: Bool { reason == .differs }
}
/// A host that is not the one known, or will not let us in, does not change by retrying.
extension JumpHostError: GuestHostKeyRejected {}

package struct LibSSH2GuestShell: GuestShell {
    package init() {}

    package func connect(_ login: GuestLogin, timeout: Duration) async throws -> any GuestSession {
        let pin = HostKeyPin(file: login.pinnedHostKey)
        let session = try await Blocking.run {
            if let jump = login.via {
                let tunnel = try SSHTunnel.open(through: jump, toLoopbackPort: login.port, timeout: timeout)
                return try SSHSession(socket: tunnel, user: login.user, privateKey: login.privateKey,
                                      timeout: timeout) { try pin.verify($0, vm: login.vmName) }
            }
            return try SSHSession(host: login.host, port: login.port, user: login.user, privateKey: login.privateKey,
                                  timeout: timeout, reconnectWhileSilent: login.reconnectWhileSilent) { try pin.verify($0, vm: login.vmName) }
        }
        return LiveSession(session: session)
    }

    package func homeFolder(on jump: JumpHost, timeout: Duration) async throws -> String {
        try await Blocking.run { try SSHTunnel.homeFolder(on: jump, timeout: timeout) }
    }
}

private struct LiveSession: GuestSession {
    let session: SSHSession

    /// A blocking call that a cancelled task ends by shutting the socket down.
    private func interruptible<T: Sendable>(_ body: @escaping @Sendable (SSHSession) throws -> T) async throws -> T {
        let session = session
        let result = try await withTaskCancellationHandler {
            try await Blocking.run { try body(session) }
        } onCancel: {
            session.interrupt()
        }
        try Task.checkCancellation()
        return result
    }

    func execute(_ commandLine: String, input: Int32, output: Int32, error: Int32, outputLimit: UInt64?) async throws -> Int32 {
        let streams = LocalStreams(input: input, output: output, error: error, outputLimit: outputLimit)
        return try await interruptible { try $0.execute(commandLine, streams: streams) }
    }

    func interactiveShell(term: String) async throws -> Int32 {
        try await interruptible { try $0.interactiveShell(term: term) }
    }

    func run(_ commandLine: String, input: Data) async throws -> (status: Int32, output: String) {
        try await interruptible { try $0.run(commandLine, input: input) }
    }

    func download(_ guestPath: String, into folder: ConfinedFolder) async throws -> GuestCopy {
        let copied = try await interruptible { try $0.download(guestPath, into: folder) }
        return GuestCopy(local: copied.local, skippedLinks: copied.skippedLinks)
    }

    func apply(_ operations: [GuestFileOperation]) async throws {
        try await interruptible { try $0.apply(operations) }
    }

    func disconnect() async {
        let session = session
        _ = try? await Blocking.run { session.disconnect() }
    }
}
