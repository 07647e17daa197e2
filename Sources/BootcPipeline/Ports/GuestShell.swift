// The guest as the pipeline talks to it: an authenticated shell session. The live adapter is
// libssh2 (LibSSH2GuestShell); tests use a fake.

import BootcCore
import Foundation
import Host

/// Who logs in, where, with which key, expecting which host key (pinned in a file).
package struct GuestLogin: Sendable {
    package var host = "127.0.0.1"
    package var port: Int
    package var user: String
    package var privateKey: URL
    package var pinnedHostKey: URL
    /// Named in a host key mismatch error.
    package var vmName: String
    /// The hypervisor host the guest's port is on when it is not this machine: the
    /// connection is tunnelled through an SSH session to it.
    package var via: JumpHost?
    /// For a guest that may not answer yet (a waiter polling a booting guest): a new
    /// connection is made this often while earlier ones stay silent; nil: one connection.
    package var reconnectWhileSilent: Duration?

    package init(port: Int, user: String, privateKey: URL, pinnedHostKey: URL, vmName: String) {
        self.port = port
        self.user = user
        self.privateKey = privateKey
        self.pinnedHostKey = pinnedHostKey
        self.vmName = vmName
    }
}

package protocol GuestShell: Sendable {
    /// Connects and authenticates; `timeout` bounds the connect and each blocking step. A host
    /// key other than the pinned one throws `GuestHostKeyRejected` (never worth retrying).
    func connect(_ login: GuestLogin, timeout: Duration) async throws -> any GuestSession
    /// The home folder of `jump`'s user on that host.
    func homeFolder(on jump: JumpHost, timeout: Duration) async throws -> String
}

/// What a guest copy brought home.
package struct GuestCopy: Sendable {
    package var local: URL
    package var skippedLinks: Int
    package init(local: URL, skippedLinks: Int) {
        self.local = local
        self.skippedLinks = skippedLinks
    }
}

package protocol GuestSession: Sendable {
    /// Runs a command line with the given local streams; returns its exit status.
    /// `outputLimit` cuts stdout after that many bytes (a guest decides how much it writes).
    func execute(_ commandLine: String, input: Int32, output: Int32, error: Int32, outputLimit: UInt64?) async throws -> Int32
    /// A login shell on this terminal; returns its exit status.
    func interactiveShell(term: String) async throws -> Int32
    /// Runs `commandLine` with `input` on its stdin; returns status and combined output.
    func run(_ commandLine: String, input: Data) async throws -> (status: Int32, output: String)
    /// Copies a guest file or folder into `folder` without following links on either side.
    func download(_ guestPath: String, into folder: ConfinedFolder) async throws -> GuestCopy
    /// Writes files into the guest (a live update), in order.
    func apply(_ operations: [GuestFileOperation]) async throws
    /// Ends the session now (the guest's sshd child exits).
    func disconnect() async
}

extension GuestSession {
    /// The command with the terminal's own streams.
    package func execute(_ commandLine: String) async throws -> Int32 {
        try await execute(commandLine, input: STDIN_FILENO, output: STDOUT_FILENO, error: STDERR_FILENO, outputLimit: nil)
    }
}

/// The guest presented a host key other than the one pinned for it.
package protocol GuestHostKeyRejected: Error {
    /// The guest answered with a host key other than the one it was given (not: no pin, or
    /// the jump host refused).
    var isOtherHostKey: Bool { get }
}

extension GuestHostKeyRejected {
    package var isOtherHostKey: Bool { false }
}
