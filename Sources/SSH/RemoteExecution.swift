// Runs a command or an interactive shell on an SSH session, pumping bytes between the
// channel and this process's stdin, stdout and stderr until the remote side exits.

import Foundation
import Host
internal import CLibSSH2

/// Where the remote process's bytes go, and where its input comes from.
public struct LocalStreams: Sendable {
    public var input: Int32
    public var output: Int32
    public var error: Int32
    /// At most this many bytes of output and error together (when they go to a file the guest
    /// should not be able to fill the host disk through); nil: no limit.
    public var outputLimit: UInt64?

    public static let standard = LocalStreams(input: STDIN_FILENO, output: STDOUT_FILENO, error: STDERR_FILENO)

    public init(input: Int32, output: Int32, error: Int32, outputLimit: UInt64? = nil) {
        self.input = input
        self.output = output
        self.error = error
        self.outputLimit = outputLimit
    }
}

extension SSHSession {
    private static let eagain = Int(LIBSSH2_ERROR_EAGAIN)

    /// Runs `commandLine` through the guest's shell (an SSH exec request) and returns its exit
    /// status: the command's own, or 128 + signal number when a signal ended it.
    public func execute(_ commandLine: String, streams: LocalStreams = .standard) throws -> Int32 {
        let channel = try openChannel()
        defer { libssh2_channel_free(channel) }
        let rc = libssh2_channel_process_startup(channel, "exec", 4, commandLine, UInt32(commandLine.utf8.count))
        guard rc == 0 else { throw SSHError.channel("exec request refused: \(lastError)") }
        try pump(channel, streams: streams, trackWindowSize: false)
        return try exitStatus(channel)
    }

    /// Opens a login shell on a PTY sized like our terminal, with the terminal in raw mode
    /// (restored on every exit path); returns the shell's exit status.
    public func interactiveShell(term: String, streams: LocalStreams = .standard) throws -> Int32 {
        let channel = try openChannel()
        defer { libssh2_channel_free(channel) }
        let size = TerminalSize.of(streams.output) ?? TerminalSize(columns: 80, rows: 24)
        guard libssh2_channel_request_pty_ex(channel, term, UInt32(term.utf8.count), nil, 0,
                                             Int32(size.columns), Int32(size.rows), 0, 0) == 0 else {
            throw SSHError.channel("PTY request refused: \(lastError)")
        }
        guard libssh2_channel_process_startup(channel, "shell", 5, nil, 0) == 0 else {
            throw SSHError.channel("shell request refused: \(lastError)")
        }
        let raw = RawTerminal(fd: streams.input)
        defer { raw?.restore() }
        try pump(channel, streams: streams, trackWindowSize: true)
        return try exitStatus(channel)
    }

    private func openChannel() throws -> OpaquePointer {
        libssh2_session_set_blocking(session, 1)
        guard let channel = libssh2_channel_open_ex(session, "session", 7, 2 * 1024 * 1024, 32768, nil, 0) else {
            throw SSHError.channel("cannot open a session channel: \(lastError)")
        }
        return channel
    }

    /// Moves bytes both ways until the remote side sends EOF. Non-blocking libssh2 calls and
    /// one poll() over the socket and our stdin: no busy loop, no threads.
    private func pump(_ channel: OpaquePointer, streams: LocalStreams, trackWindowSize: Bool) throws {
        libssh2_session_set_blocking(session, 0)
        defer { libssh2_session_set_blocking(session, 1) }
        var inputOpen = true
        var pendingInput = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        var lastSize = trackWindowSize ? TerminalSize.of(streams.output) : nil
        var written: UInt64 = 0

        while true {
            // Drain what the channel has for stdout (stream 0) and stderr (stream 1).
            for (stream, fd) in [(Int32(0), streams.output), (Int32(SSH_EXTENDED_DATA_STDERR), streams.error)] {
                while true {
                    let n = buffer.withUnsafeMutableBytes {
                        libssh2_channel_read_ex(channel, stream, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count)
                    }
                    if n > 0 {
                        written += UInt64(n)
                        if let limit = streams.outputLimit, written > limit {
                            throw SSHError.io("more than \(limit >> 20) MiB of output; the rest was not kept")
                        }
                        try writeAll(fd, buffer, count: n)
                    } else if n == Self.eagain || n == 0 {
                        break
                    } else {
                        throw SSHError.io(lastError)
                    }
                }
            }
            if libssh2_channel_eof(channel) != 0 { break }

            // Forward our input; an EOF on it becomes the channel's EOF, as ssh does.
            while !pendingInput.isEmpty {
                let n = pendingInput.withUnsafeBytes {
                    libssh2_channel_write_ex(channel, 0, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count)
                }
                if n > 0 { pendingInput.removeFirst(n) } else if n == Self.eagain { break } else { throw SSHError.io(lastError) }
            }

            if trackWindowSize, let size = TerminalSize.of(streams.output), size != lastSize {
                lastSize = size
                _ = libssh2_channel_request_pty_size_ex(channel, Int32(size.columns), Int32(size.rows), 0, 0)
            }

            var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
            let directions = libssh2_session_block_directions(session)
            if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 || !pendingInput.isEmpty { fds[0].events |= Int16(POLLOUT) }
            let watchInput = inputOpen && pendingInput.isEmpty
            if watchInput { fds.append(pollfd(fd: streams.input, events: Int16(POLLIN), revents: 0)) }
            // The timeout only bounds how late a terminal resize is noticed.
            let ready = poll(&fds, nfds_t(fds.count), trackWindowSize ? 250 : 1000)
            if ready < 0 && errno != EINTR { throw SSHError.io(String(cString: strerror(errno))) }

            if watchInput, fds[1].revents != 0 {
                let n = read(streams.input, &buffer, buffer.count)
                if n > 0 {
                    pendingInput.append(contentsOf: buffer[0..<n])
                } else if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                    inputOpen = false
                    while libssh2_channel_send_eof(channel) == Int32(LIBSSH2_ERROR_EAGAIN) { waitForSocket() }
                }
            }
        }
    }

    private func exitStatus(_ channel: OpaquePointer) throws -> Int32 {
        libssh2_session_set_blocking(session, 1)
        _ = libssh2_channel_close(channel)
        _ = libssh2_channel_wait_closed(channel)
        var signalName: UnsafeMutablePointer<CChar>?
        var signalNameLength = 0
        if libssh2_channel_get_exit_signal(channel, &signalName, &signalNameLength, nil, nil, nil, nil) == 0,
           let signalName {
            let name = String(cString: signalName)
            free(signalName)
            return 128 + (SignalNames.number(of: name) ?? 127)
        }
        return libssh2_channel_get_exit_status(channel)
    }

    private func waitForSocket() {
        var fd = pollfd(fd: socket, events: Int16(POLLIN | POLLOUT), revents: 0)
        _ = poll(&fd, 1, 100)
    }

    private func writeAll(_ fd: Int32, _ buffer: [UInt8], count: Int) throws {
        var offset = 0
        while offset < count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + offset, count - offset) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                // The reader went away (e.g. `| head`): stop quietly, like a shell pipeline.
                if errno == EPIPE { return }
                throw SSHError.io("writing output: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}

/// The SSH protocol names signals without "SIG" (RFC 4254 6.10).
enum SignalNames {
    static func number(of name: String) -> Int32? {
        let table: [String: Int32] = [
            "ABRT": SIGABRT, "ALRM": SIGALRM, "FPE": SIGFPE, "HUP": SIGHUP, "ILL": SIGILL, "INT": SIGINT,
            "KILL": SIGKILL, "PIPE": SIGPIPE, "QUIT": SIGQUIT, "SEGV": SIGSEGV, "TERM": SIGTERM,
            "USR1": SIGUSR1, "USR2": SIGUSR2,
        ]
        return table[name]
    }
}

extension SSHSession {
    /// Runs `commandLine` with `input` (at most 64 KiB: it must fit a pipe) on its stdin and
    /// returns its status and its stdout and stderr together.
    public func run(_ commandLine: String, input: Data) throws -> (status: Int32, output: String) {
        precondition(input.count <= 65536, "input larger than a pipe buffer")
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw SSHError.io("pipe: \(String(cString: strerror(errno)))") }
        defer { close(pipeFDs[0]) }
        let written = input.withUnsafeBytes { write(pipeFDs[1], $0.baseAddress, $0.count) }
        close(pipeFDs[1])
        guard written == input.count else { throw SSHError.io("could not queue the command's input") }
        var template = Array((NSTemporaryDirectory() + "/podman-bootc-output-XXXXXX").utf8CString)
        let output = mkstemp(&template)
        guard output >= 0 else { throw SSHError.io("mkstemp: \(String(cString: strerror(errno)))") }
        unlink(String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        defer { close(output) }
        let status = try execute(commandLine, streams: LocalStreams(input: pipeFDs[0], output: output, error: output))
        lseek(output, 0, SEEK_SET)
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(output, &buffer, buffer.count)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return (status, String(decoding: bytes, as: UTF8.self))
    }
}
