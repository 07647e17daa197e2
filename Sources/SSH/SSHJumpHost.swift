// A guest's SSH port on a remote hypervisor host, reached through that host: an SSH session
// to the host (its host key checked against known_hosts, the user's agent or key files for
// login) opens a direct-tcpip channel to the guest's forwarded port on the host's loopback,
// and a socket pair carries it to the guest's own SSH session, which then verifies the
// guest's pinned key as for a local VM. Nothing listens on any port of either machine.

import BootcCore
import Foundation
internal import CLibSSH2

public enum JumpHostError: ToolError {
    case unknownHost(JumpHost)
    case changedHostKey(JumpHost)
    case unreadableKnownHosts(JumpHost, reason: String)
    case noAuthentication(JumpHost, tried: [String])
    case forward(JumpHost, port: Int, reason: String)

    public var description: String {
        switch self {
        case .unknownHost(let jump):
            return "the SSH host key of \(jump.knownHostsName) is not in \(jump.knownHosts): log in once with "
                + "`ssh -p \(jump.port) \(jump.user)@\(jump.host)` and accept its key after checking its fingerprint, then run this again"
        case .changedHostKey(let jump):
            return "the SSH host key of \(jump.knownHostsName) differs from the one in \(jump.knownHosts): someone may be "
                + "intercepting the connection, or the host was reinstalled. Refusing to connect; check the key and update \(jump.knownHosts)"
        case .unreadableKnownHosts(let jump, let reason):
            return "cannot read \(jump.knownHosts) to verify \(jump.knownHostsName): \(reason)"
        case .noAuthentication(let jump, let tried):
            return "cannot log in to \(jump.user)@\(jump.knownHostsName) over SSH (tried \(tried.isEmpty ? "nothing: no agent and no key file" : tried.joined(separator: ", "))): "
                + "load a key into ssh-agent, or name one with ?keyfile=PATH in the connection URI"
        case .forward(let jump, let port, let reason):
            return "\(jump.knownHostsName) refused to forward to its port 127.0.0.1:\(port) (\(reason)); its sshd needs AllowTcpForwarding yes"
        }
    }
}

/// An open tunnel: `socket` is this side's end, ready for `SSHSession(socket:...)`, which
/// then owns it. The tunnel ends when that end is closed or the host closes the channel.
public enum SSHTunnel {
    public static func open(through jump: JumpHost, toLoopbackPort port: Int, timeout: Duration) throws -> Int32 {
        let host = try JumpSession(jump, timeout: timeout)
        guard let channel = libssh2_channel_direct_tcpip_ex(host.session, "127.0.0.1", Int32(port), "127.0.0.1", 0) else {
            throw JumpHostError.forward(jump, port: port, reason: host.lastError)
        }
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            libssh2_channel_free(channel)
            throw SSHError.io("socketpair: \(String(cString: strerror(errno)))")
        }
        let pump = TunnelPump(host: host, channel: channel, local: ends[1])
        let thread = Thread { pump.run() }
        thread.name = "podman-bootc ssh tunnel"
        thread.start()
        return ends[0]
    }
}

/// The SSH session to the hypervisor host: connected, host key verified, logged in.
final class JumpSession: @unchecked Sendable {
    let session: OpaquePointer
    let socket: Int32
    private var handshakeCompleted = false

    /// Host key algorithms, tried in this order until known_hosts lists the host under one
    /// (libssh2 picks its own order otherwise, which may be a type the file does not hold).
    static let hostKeyTypes: [(method: String, knownHostKey: Int32)] = [
        ("ssh-ed25519", 7 << 18), ("ecdsa-sha2-nistp256", 4 << 18), ("ecdsa-sha2-nistp384", 5 << 18),
        ("ecdsa-sha2-nistp521", 6 << 18), ("rsa-sha2-512,rsa-sha2-256,ssh-rsa", 2 << 18),
    ]

    convenience init(_ jump: JumpHost, timeout: Duration) throws {
        var lastUnknown: JumpHostError?
        for (method, keyType) in Self.hostKeyTypes {
            let attempt = try JumpSession(jump, timeout: timeout, hostKeyMethod: method)
            switch try attempt.checkKnownHost(jump, keyType: keyType) {
            case Int32(LIBSSH2_KNOWNHOST_CHECK_MATCH):
                try attempt.authenticate(jump)
                self.init(taking: attempt)
                return
            case Int32(LIBSSH2_KNOWNHOST_CHECK_MISMATCH):
                throw JumpHostError.changedHostKey(jump)
            default:
                lastUnknown = .unknownHost(jump)
            }
        }
        throw lastUnknown ?? JumpHostError.unknownHost(jump)
    }

    /// Moves `other`'s session into a new object (other gives it up).
    private init(taking other: JumpSession) {
        session = other.session
        socket = other.socket
        handshakeCompleted = other.handshakeCompleted
        other.released = true
    }

    private var released = false

    private init(_ jump: JumpHost, timeout: Duration, hostKeyMethod: String) throws {
        _ = SSHSession.libraryReady
        let milliseconds = SSHSession.milliseconds(timeout)
        socket = try TCPConnection.open(host: jump.host, port: jump.port, timeoutMilliseconds: Int32(milliseconds))
        guard let session = libssh2_session_init_ex(nil, nil, nil, nil) else {
            close(socket)
            throw SSHError.handshake("libssh2 could not allocate a session")
        }
        self.session = session
        libssh2_session_set_timeout(session, milliseconds)
        guard libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, hostKeyMethod) == 0 else {
            throw SSHError.handshake("libssh2 cannot use \(hostKeyMethod) host keys")
        }
        guard libssh2_session_handshake(session, socket) == 0 else {
            throw SSHError.handshake("\(jump.knownHostsName): \(lastError)")
        }
        handshakeCompleted = true
    }

    deinit {
        guard !released else { return }
        if handshakeCompleted {
            libssh2_session_set_blocking(session, 1)
            libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "bye", "")
        }
        libssh2_session_free(session)
        close(socket)
    }

    var lastError: String { lastErrorText(of: session) }

    /// A LIBSSH2_KNOWNHOST_CHECK_* result for the key the host sent.
    private func checkKnownHost(_ jump: JumpHost, keyType: Int32) throws -> Int32 {
        var length = 0
        var type: Int32 = 0
        guard let key = libssh2_session_hostkey(session, &length, &type), length > 0 else {
            throw SSHError.handshake("\(jump.knownHostsName) sent no host key")
        }
        guard let hosts = libssh2_knownhost_init(session) else { throw SSHError.handshake("libssh2 could not allocate known hosts") }
        defer { libssh2_knownhost_free(hosts) }
        guard FileManager.default.isReadableFile(atPath: jump.knownHosts) else {
            throw JumpHostError.unknownHost(jump)
        }
        guard libssh2_knownhost_readfile(hosts, jump.knownHosts, LIBSSH2_KNOWNHOST_FILE_OPENSSH) >= 0 else {
            throw JumpHostError.unreadableKnownHosts(jump, reason: lastError)
        }
        let typeMask = Int32(LIBSSH2_KNOWNHOST_TYPE_PLAIN) | (1 << 16) | keyType
        return libssh2_knownhost_checkp(hosts, jump.host, Int32(jump.port), key, length, typeMask, nil)
    }

    /// The user's agent first (as OpenSSH does), then each key file.
    private func authenticate(_ jump: JumpHost) throws {
        var tried: [String] = []
        let user = jump.user
        if ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"] != nil, let agent = libssh2_agent_init(session) {
            defer { libssh2_agent_free(agent) }
            if libssh2_agent_connect(agent) == 0 {
                defer { libssh2_agent_disconnect(agent) }
                tried.append("ssh-agent")
                if libssh2_agent_list_identities(agent) == 0 {
                    var identity: UnsafeMutablePointer<libssh2_agent_publickey>?
                    var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
                    while libssh2_agent_get_identity(agent, &identity, previous) == 0 {
                        if libssh2_agent_userauth(agent, user, identity) == 0 { return }
                        previous = identity
                    }
                }
            }
        }
        for file in jump.keyFiles where FileManager.default.fileExists(atPath: file) {
            tried.append(file)
            if libssh2_userauth_publickey_fromfile_ex(session, user, UInt32(user.utf8.count), nil, file, nil) == 0 { return }
        }
        throw JumpHostError.noAuthentication(jump, tried: tried)
    }
}

/// Copies bytes both ways between the channel and the local end of the socket pair, on its
/// own thread, driven by poll(2) on both sockets: no timer, no busy loop.
private final class TunnelPump: @unchecked Sendable {
    let host: JumpSession
    let channel: OpaquePointer
    let local: Int32

    init(host: JumpSession, channel: OpaquePointer, local: Int32) {
        self.host = host
        self.channel = channel
        self.local = local
    }

    func run() {
        defer {
            libssh2_session_set_blocking(host.session, 1)
            libssh2_channel_free(channel)
            close(local)
        }
        libssh2_session_set_blocking(host.session, 0)
        _ = fcntl(local, F_SETFL, fcntl(local, F_GETFL) | O_NONBLOCK)
        var toLocal: [UInt8] = []
        var toRemote: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 15)
        var localClosed = false
        let eagain = Int(LIBSSH2_ERROR_EAGAIN)
        while true {
            var moved = false
            if toLocal.isEmpty {
                let got = buffer.withUnsafeMutableBytes { libssh2_channel_read_ex(channel, 0, $0.baseAddress, $0.count) }
                if got > 0 {
                    toLocal = Array(buffer[..<got])
                    moved = true
                } else if got == 0 || (got < 0 && got != eagain) {
                    // The guest's port closed (or the host session failed): the guest's
                    // session sees its socket end.
                    if got < 0 || libssh2_channel_eof(channel) != 0 { return }
                }
            }
            if !toLocal.isEmpty {
                let wrote = toLocal.withUnsafeBytes { write(local, $0.baseAddress, $0.count) }
                if wrote > 0 {
                    toLocal.removeFirst(wrote)
                    moved = true
                } else if wrote < 0 && errno != EAGAIN && errno != EINTR {
                    return
                }
            }
            if toRemote.isEmpty && !localClosed {
                let got = buffer.withUnsafeMutableBytes { read(local, $0.baseAddress, $0.count) }
                if got > 0 {
                    toRemote = Array(buffer[..<got])
                    moved = true
                } else if got == 0 || (errno != EAGAIN && errno != EINTR) {
                    localClosed = true
                }
            }
            if !toRemote.isEmpty {
                let wrote = toRemote.withUnsafeBytes { libssh2_channel_write_ex(channel, 0, $0.baseAddress, $0.count) }
                if wrote > 0 {
                    toRemote.removeFirst(wrote)
                    moved = true
                } else if wrote < 0 && wrote != eagain {
                    return
                }
            }
            // The guest's session closed its end: nothing more will come that anyone reads.
            if localClosed && toRemote.isEmpty { return }
            if moved { continue }
            var fds = [
                pollfd(fd: host.socket, events: Int16(POLLIN), revents: 0),
                pollfd(fd: local, events: 0, revents: 0),
            ]
            if libssh2_session_block_directions(host.session) & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { fds[0].events |= Int16(POLLOUT) }
            if !toLocal.isEmpty { fds[1].events |= Int16(POLLOUT) }
            if toRemote.isEmpty && !localClosed { fds[1].events |= Int16(POLLIN) }
            // The timeout only guards against data libssh2 buffered without the socket
            // becoming readable again; every transfer wakes the poll at once.
            _ = poll(&fds, 2, 1000)
        }
    }
}

/// A TCP connection to a host name or address (IPv4 or IPv6), with a connect timeout.
enum TCPConnection {
    static func open(host: String, port: Int, timeoutMilliseconds: Int32) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let results else {
            throw SSHError.connect(host: host, port: port, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(results) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = results
        while let address = entry {
            entry = address.pointee.ai_next
            let fd = socket(address.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { lastError = String(cString: strerror(errno)); continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            if connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) != 0 {
                guard errno == EINPROGRESS else {
                    lastError = String(cString: strerror(errno))
                    close(fd)
                    continue
                }
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&pfd, 1, timeoutMilliseconds)
                var socketError: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
                guard ready == 1, socketError == 0 else {
                    lastError = ready == 0 ? "timed out" : String(cString: strerror(socketError))
                    close(fd)
                    continue
                }
            }
            _ = fcntl(fd, F_SETFL, flags)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
        throw SSHError.connect(host: host, port: port, reason: lastError)
    }
}

extension SSHTunnel {
    /// The login user's home folder on the host (SFTP's view of "."), where a session
    /// daemon's files belong.
    public static func homeFolder(on jump: JumpHost, timeout: Duration) throws -> String {
        let host = try JumpSession(jump, timeout: timeout)
        guard let sftp = libssh2_sftp_init(host.session) else {
            throw SSHError.channel("\(jump.knownHostsName) offers no SFTP to find the home folder of \(jump.user): \(host.lastError)")
        }
        defer { libssh2_sftp_shutdown(sftp) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = libssh2_sftp_symlink_ex(sftp, ".", 1, &buffer, UInt32(buffer.count), LIBSSH2_SFTP_REALPATH)
        guard length > 0 else { throw SSHError.channel("cannot resolve the home folder of \(jump.user) on \(jump.knownHostsName): \(host.lastError)") }
        let home = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard home.hasPrefix("/") else { throw SSHError.channel("\(jump.knownHostsName) named \(home.debugDescription) as the home folder of \(jump.user)") }
        return home
    }
}
