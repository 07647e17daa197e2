// The warm-start agent: a shell loop that a template VM starts (over SSH) just before its
// running state is saved, blocked on a virtio-serial port. Every VM restored from that state
// wakes up with it, so the host can give the VM its identity and run a command at once,
// without a guest sshd doing a key exchange and a PAM login with every code page still
// untranslated (under TCG that first login costs seconds). The agent serves while the host
// holds its ports; it exits when the host lets go (the guest then sees an end of file).

import BootcCore
import Foundation
import Host
import Libvirt

struct GuestAgentError: ToolError {
    var reason: String
    /// The request went out but no answer came in time: it may still be running.
    var timedOut = false
    var description: String { "guest agent: \(reason)" }
}

/// The host's end of a guest agent: QEMU's two channel sockets, connected. One request at a time.
// Sendable: the descriptors are immutable; `closed` is guarded by `lock`, and requests are made
// one at a time by the session that owns the channel.
final class GuestAgentChannel: @unchecked Sendable {
    private let output: Int32
    private let error: Int32
    private let lock = NSLock()
    private var closed = false

    /// Takes over two connected descriptors (tests pass pseudo-terminals).
    init(output: Int32, error: Int32) {
        self.output = output
        self.error = error
    }

    deinit { close() }

    /// The domain's ports for an agent, their sockets in `folder`; none when a path would
    /// not fit a socket address.
    static func socketChannels(in folder: URL) -> [SocketChannel] {
        guard folder.path.utf8.count + "/agent.out".utf8.count < 108 else { return [] }
        return [(GuestAgentProtocol.outputPort, "agent.out"), (GuestAgentProtocol.errorPort, "agent.err")].map {
            SocketChannel(name: $0.0, path: folder.appendingPathComponent($0.1).path)
        }
    }

    /// Connects to the agent ports of a started domain (the socket paths as its live XML says).
    static func connect(to domain: any VirtualMachineDomain) async throws -> GuestAgentChannel {
        try connect(liveXML: try await domain.xmlDescription())
    }

    static func connect(liveXML xml: String) throws -> GuestAgentChannel {
        guard let outputPath = socketPath(for: GuestAgentProtocol.outputPort, inLiveXML: xml),
              let errorPath = socketPath(for: GuestAgentProtocol.errorPort, inLiveXML: xml) else {
            throw GuestAgentError(reason: "the domain has no agent channels")
        }
        let output = try UnixSocket.connect(outputPath)
        do {
            return GuestAgentChannel(output: output, error: try UnixSocket.connect(errorPath))
        } catch {
            Glibc.close(output)
            throw error
        }
    }

    /// The host socket bound for the virtio channel named `name`.
    static func socketPath(for name: String, inLiveXML xml: String) -> String? {
        // <channel type='unix'><source mode='bind' path='...'/><target type='virtio' name='NAME' .../>
        var rest = Substring(xml)
        while let start = rest.range(of: "<channel type='unix'>") {
            guard let end = rest[start.upperBound...].range(of: "</channel>") else { return nil }
            let channel = rest[start.upperBound..<end.lowerBound]
            rest = rest[end.upperBound...]
            guard channel.contains("name='\(name)'"),
                  let pathStart = channel.range(of: " path='"),
                  let pathEnd = channel[pathStart.upperBound...].firstIndex(of: "'") else { continue }
            return XMLText.unescaped(String(channel[pathStart.upperBound..<pathEnd]))
        }
        return nil
    }

    /// Ends the session: the guest's agent reads an end of file and exits.
    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        Glibc.close(output)
        Glibc.close(error)
    }

    /// Wakes a blocked `run` or `waitUntilReady` (a cancelled task): it throws.
    func interrupt() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        shutdown(output, Int32(SHUT_RDWR))
        shutdown(error, Int32(SHUT_RDWR))
    }

    /// Blocks until the freshly started agent says it listens.
    func waitUntilReady(timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        var received = [UInt8]()
        let ready = Array(GuestAgentProtocol.readyLine.utf8)
        while !received.elementsEqual(ready) {
            guard received.count < ready.count, ready.starts(with: received) else {
                throw GuestAgentError(reason: "unexpected output from the agent: \(String(decoding: received, as: UTF8.self))")
            }
            guard let chunk = try receive(from: output, until: deadline) else {
                throw GuestAgentError(reason: "the agent did not start within \(timeout)")
            }
            received += chunk
        }
    }

    /// Runs `script` with the guest's root shell, `input` as its stdin; its stdout and stderr
    /// go to the sinks as they arrive. Returns its exit status.
    func run(script: String, input: String, shell: GuestAgentProtocol.Shell, timeout: Duration?, outputLimit: UInt64? = nil,
             stdout: (ArraySlice<UInt8>) throws -> Void, stderr: (ArraySlice<UInt8>) throws -> Void) throws -> Int32 {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let nonce = GuestAgentProtocol.makeNonce()
        try send(GuestAgentProtocol.request(nonce: nonce, script: script, input: input, shell: shell), until: deadline)
        var ends = [GuestAgentStreamEnd(nonce: nonce), GuestAgentStreamEnd(nonce: nonce)]
        var written: UInt64 = 0
        while !(ends[0].finished && ends[1].finished) {
            let watched = [output, error].enumerated().filter { !ends[$0.offset].finished }
            var fds = watched.map { pollfd(fd: $0.element, events: Int16(POLLIN), revents: 0) }
            // Checked on every pass: a guest that never stops writing still meets the deadline.
            if let deadline, ContinuousClock.now >= deadline {
                throw GuestAgentError(reason: "no answer within \(timeout ?? .zero)", timedOut: true)
            }
            let wait = deadline.map { max(0, Int32(($0 - ContinuousClock.now).milliseconds)) } ?? -1
            let ready = poll(&fds, nfds_t(fds.count), wait)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw GuestAgentError(reason: "no answer within \(timeout ?? .zero)", timedOut: true) }
            for (slot, entry) in zip(fds, watched) where slot.revents != 0 {
                var buffer = [UInt8](repeating: 0, count: 32 * 1024)
                let n = read(entry.element, &buffer, buffer.count)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                guard n > 0 else { throw GuestAgentError(reason: "the channel closed (the VM stopped?)") }
                let bytes: [UInt8]
                do {
                    bytes = try ends[entry.offset].feed(buffer[..<n])
                } catch {
                    throw GuestAgentError(reason: "\(error)")
                }
                written += UInt64(bytes.count)
                if let outputLimit, written > outputLimit {
                    throw GuestAgentError(reason: "more than \(outputLimit >> 20) MiB of output; the rest was not kept")
                }
                if entry.offset == 0 { try stdout(bytes[...]) } else { try stderr(bytes[...]) }
            }
        }
        guard let status = ends[0].status else {
            throw GuestAgentError(reason: "an end line without an exit status")
        }
        return status
    }

    private func send(_ data: Data, until deadline: ContinuousClock.Instant?) throws {
        let bytes = [UInt8](data)
        var offset = 0
        while offset < bytes.count {
            var fds = [pollfd(fd: output, events: Int16(POLLOUT), revents: 0)]
            let wait = deadline.map { max(0, Int32(($0 - ContinuousClock.now).milliseconds)) } ?? -1
            let ready = poll(&fds, 1, wait)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw GuestAgentError(reason: "the guest took no request") }
            var n = bytes[offset...].withUnsafeBytes { Glibc.send(output, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == ENOTSOCK { n = bytes[offset...].withUnsafeBytes { write(output, $0.baseAddress, $0.count) } }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { throw GuestAgentError(reason: "cannot send: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// One read from `fd` before `deadline`; nil when the deadline passed.
    private func receive(from fd: Int32, until deadline: ContinuousClock.Instant) throws -> [UInt8]? {
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 1, max(0, Int32((deadline - ContinuousClock.now).milliseconds)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw GuestAgentError(reason: "the channel closed") }
            return Array(buffer[..<n])
        }
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

enum GuestAgent {
    /// Run over the template's SSH session as root: stores the agent and starts it as a
    /// transient service (it outlives the session and is gone once it exits; what its requests
    /// left running in the background, such as the credentials rewrite, finishes: only the
    /// agent itself is stopped with the unit). The agent runs
    /// under root's login shell when that is a POSIX shell, so a command can run in a forked
    /// copy of the agent instead of a new shell process. Fixed text.
    static let startCommand = """
        umask 077
        cat > /run/podman-bootc-agent.sh || exit 1
        login=$(getent passwd root | cut -d: -f7)
        [ -x "$login" ] || login=/bin/sh
        case "${login##*/}" in bash | dash | sh | ksh) shell=$login ;; *) shell=/bin/sh ;; esac
        systemd-run --quiet --collect --unit=podman-bootc-agent --property=KillMode=process \\
          "$shell" /run/podman-bootc-agent.sh "$shell" "$login"
        """

    /// The agent; arguments: the shell running it, root's login shell, and a folder standing
    /// for / (tests run it on the host). Under emulation every program started costs about 0.15 s and reading costs
    /// ~80 µs a byte, so it uses shell builtins only and knows the identity script already:
    /// requests are read line by line with `read` (which never reads past a line), and a
    /// script runs by `eval` in a forked subshell from /root, like an SSH command (a user's
    /// command by root's login shell when the agent could not run under it).
    static let script = """
        own=$1 login=$2 root=${3:-}
        rm -f "$0"
        umask 077
        port() {
          for d in "$root"/sys/class/virtio-ports/*; do
            read -r n < "$d/name" 2>/dev/null || continue
            if [ "$n" = "$1" ]; then echo "$root/dev/${d##*/}"; return 0; fi
          done
          return 1
        }
        out=$(port \(GuestAgentProtocol.outputPort)) && err=$(port \(GuestAgentProtocol.errorPort)) || {
          echo "podman-bootc-agent: no agent ports" >&2; exit 1; }
        dir=$root/run/podman-bootc-agent
        mkdir -p "$dir" || exit 1
        # Made now, in the template: a restored guest waits on it without starting a program.
        mkfifo -m 600 "$dir/clock.pipe" 2>/dev/null || true
        exec 3<>"$out" 4>"$err"
        printf '%s\\n' '\(GuestAgentProtocol.readyWord)' >&3
        \(GuestIdentityScript.functions)
        while IFS=' ' read -r nonce scriptlines inputlines shell <&3; do
          case "$nonce" in *[!0-9a-f]* | '') break ;; esac
          case "$shell" in agent | login) ;; *) break ;; esac
          case "$scriptlines$inputlines" in *[!0-9]* | '') break ;; esac
          script=
          i=0
          while [ "$i" -lt "$scriptlines" ]; do
            IFS= read -r line <&3 || exit 0
            script="$script$line
        "
            i=$((i + 1))
          done
          i=0
          while [ "$i" -lt "$inputlines" ]; do
            IFS= read -r line <&3 || exit 0
            printf '%s\\n' "$line"
            i=$((i + 1))
          done > "$dir/input"
          (
            cd /root 2>/dev/null || cd /
            HOME=/root USER=root LOGNAME=root SHELL=$login
            export HOME USER LOGNAME SHELL
            [ "$shell" = agent ] || podman_bootc_clock_wait
            if [ "$shell" = agent ] || [ "$login" = "$own" ]; then eval "$script"; else exec "$login" -c "$script"; fi
          ) < "$dir/input" >&3 2>&4 3>&- 4>&-
          status=$?
          printf '\\n%s %s\\n' "$nonce" "$status" >&3
          printf '\\n%s\\n' "$nonce" >&4
        done
        rm -rf "$dir"
        """
}
