// A restored VM's first session: commands go to the guest agent (no SSH login on the
// critical path); what needs SSH (a shell, file copies, a command fed from a pipe or file)
// opens an SSH session on first use, with the VM's own key.

import BootcCore
import Foundation
import Host
import Synchronization

actor AgentSession: GuestSession {
    private let agent: GuestAgentChannel
    private let openSSH: @Sendable () async throws -> any GuestSession
    private var ssh: (any GuestSession)?
    /// Run through the agent before the first SSH login (waits for login files written in the background).
    private var beforeSSH: String?

    init(agent: GuestAgentChannel, beforeSSH: String? = nil, openSSH: @escaping @Sendable () async throws -> any GuestSession) {
        self.agent = agent
        self.beforeSSH = beforeSSH
        self.openSSH = openSSH
    }

    /// Runs one of the agent's own functions (no SSH fallback); status and combined output.
    func runInAgent(_ script: String, input: Data, timeout: Duration = .seconds(30)) async throws -> (status: Int32, output: String) {
        let collected = Collected()
        let status = try await agentRun(script, input: String(decoding: input, as: UTF8.self), shell: .agent, timeout: timeout,
                                        outputLimit: 1 << 20, stdout: { collected.append($0) }, stderr: { collected.append($0) })
        return (status, collected.text)
    }

    private func sshSession() async throws -> any GuestSession {
        if let ssh { return ssh }
        if let beforeSSH {
            let result = try await runInAgent(beforeSSH, input: Data(), timeout: .seconds(60))
            guard result.status == 0 else {
                throw GuestAgentError(reason: "the VM's login files were not written: \(result.output)")
            }
            self.beforeSSH = nil
        }
        let session = try await openSSH()
        ssh = session
        return session
    }

    /// A command whose stdin carries data (a pipe, a file, a socket) needs SSH, which forwards
    /// it; otherwise (a terminal, /dev/null, closed) the agent runs it with /dev/null as stdin.
    private static func inputCarriesData(_ fd: Int32) -> Bool {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return false }
        let type = status.st_mode & S_IFMT
        return type == S_IFIFO || type == S_IFREG || type == S_IFSOCK
    }

    func execute(_ commandLine: String, input: Int32, output: Int32, error: Int32, outputLimit: UInt64?) async throws -> Int32 {
        if Self.inputCarriesData(input) {
            return try await sshSession().execute(commandLine, input: input, output: output, error: error, outputLimit: outputLimit)
        }
        return try await agentRun(commandLine, input: "", shell: .login, timeout: nil, outputLimit: outputLimit,
                                  stdout: { try Self.writeAll(output, $0) }, stderr: { try Self.writeAll(error, $0) })
    }

    func run(_ commandLine: String, input: Data) async throws -> (status: Int32, output: String) {
        // The agent's requests are lines of text: other input goes over SSH.
        guard let text = String(data: input, encoding: .utf8), !text.contains("\0"), input.isEmpty || input.last == 0x0a else {
            return try await sshSession().run(commandLine, input: input)
        }
        let collected = Collected()
        let status = try await agentRun(commandLine, input: text, shell: .login, timeout: nil, outputLimit: 1 << 20,
                                        stdout: { collected.append($0) }, stderr: { collected.append($0) })
        return (status, collected.text)
    }

    func interactiveShell(term: String) async throws -> Int32 {
        try await sshSession().interactiveShell(term: term)
    }

    func download(_ guestPath: String, into folder: ConfinedFolder) async throws -> GuestCopy {
        try await sshSession().download(guestPath, into: folder)
    }

    func apply(_ operations: [GuestFileOperation]) async throws {
        try await sshSession().apply(operations)
    }

    func disconnect() async {
        agent.close()
        await ssh?.disconnect()
        ssh = nil
    }

    private func agentRun(_ script: String, input: String, shell: GuestAgentProtocol.Shell, timeout: Duration?, outputLimit: UInt64?,
                          stdout: @escaping @Sendable (ArraySlice<UInt8>) throws -> Void,
                          stderr: @escaping @Sendable (ArraySlice<UInt8>) throws -> Void) async throws -> Int32 {
        let agent = agent
        let status = try await withTaskCancellationHandler {
            try await Blocking.run {
                try agent.run(script: script, input: input, shell: shell, timeout: timeout, outputLimit: outputLimit, stdout: stdout, stderr: stderr)
            }
        } onCancel: {
            agent.interrupt()
        }
        try Task.checkCancellation()
        return status
    }

    private static func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN {
                var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
                _ = poll(&fds, 1, -1)
                continue
            }
            guard n > 0 else { throw GuestAgentError(reason: "cannot write the command's output: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }
}

/// Output gathered from the agent's thread.
private final class Collected: Sendable {
    private let bytes = Mutex<[UInt8]>([])
    func append(_ more: ArraySlice<UInt8>) { bytes.withLock { $0 += more } }
    var text: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}
