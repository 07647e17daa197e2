// An authenticated libssh2 session over a TCP socket; owns both.

import Foundation
internal import CLibSSH2

public final class SSHSession: @unchecked Sendable {
    // Used from one thread at a time: the caller's.
    let session: OpaquePointer
    let socket: Int32
    // Disconnecting is only valid after a completed handshake (libssh2 crashes otherwise).
    private var handshakeCompleted = false

    static let libraryReady: Void = { _ = libssh2_init(0) }()

    /// Connects, completes the SSH handshake, lets `verifyHostKey` accept or reject the server's
    /// host key (its SSH wire blob) before anything is sent, and authenticates with the key file.
    /// `timeout` bounds the TCP connect and every blocking libssh2 call.
    public convenience init(host: String, port: Int, user: String, privateKey: URL, timeout: Duration,
                verifyHostKey: (Data) throws -> Void) throws {
        let milliseconds = Self.milliseconds(timeout)
        let socket = try Self.connect(host: host, port: port, timeoutMilliseconds: Int32(milliseconds))
        try self.init(socket: socket, user: user, privateKey: privateKey, timeout: timeout, verifyHostKey: verifyHostKey)
    }

    /// The same over a stream socket already connected to the server (a tunnel's end), which
    /// the session owns from here on, also when this throws.
    public init(socket: Int32, user: String, privateKey: URL, timeout: Duration, verifyHostKey: (Data) throws -> Void) throws {
        _ = Self.libraryReady
        let milliseconds = Self.milliseconds(timeout)
        self.socket = socket
        guard let session = libssh2_session_init_ex(nil, nil, nil, nil) else {
            close(socket)
            throw SSHError.handshake("libssh2 could not allocate a session")
        }
        self.session = session
        // From here on a thrown error runs deinit, which frees the session and the socket.
        libssh2_session_set_timeout(session, milliseconds)
        // The guest's ed25519 key is the one podman-bootc gave it; ask for no other kind.
        guard libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, "ssh-ed25519") == 0 else {
            throw SSHError.handshake("libssh2 cannot use ssh-ed25519 host keys: \(lastError)")
        }
        guard libssh2_session_handshake(session, socket) == 0 else { throw SSHError.handshake(lastError) }
        handshakeCompleted = true
        var length = 0
        var type: Int32 = 0
        guard let blob = libssh2_session_hostkey(session, &length, &type), length > 0 else {
            throw SSHError.handshake("the server sent no host key")
        }
        try verifyHostKey(Data(bytes: blob, count: length))
        let rc = libssh2_userauth_publickey_fromfile_ex(session, user, UInt32(user.utf8.count), nil, privateKey.path, nil)
        guard rc == 0 else { throw SSHError.authentication(user: user, reason: lastError) }
    }

    static func milliseconds(_ timeout: Duration) -> Int {
        Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Ends the session now (the guest's sshd exits); later use fails.
    public func disconnect() {
        guard handshakeCompleted else { return }
        handshakeCompleted = false
        libssh2_session_set_blocking(session, 1)
        libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "bye", "")
        shutdown(socket, Int32(SHUT_RDWR))
    }

    /// Makes a call blocked on this session in another thread return now, with an error: the
    /// socket is shut down (how a cancelled run stops a command it waits for). Thread-safe.
    public func interrupt() {
        shutdown(socket, Int32(SHUT_RDWR))
    }

    deinit {
        if handshakeCompleted {
            libssh2_session_set_blocking(session, 1)
            libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "bye", "")
        }
        libssh2_session_free(session)
        close(socket)
    }

    var lastError: String {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(session, &message, &length, 0)
        let text = message.map { String(cString: $0) } ?? ""
        return text.isEmpty ? "libssh2 error \(code)" : text
    }

    static func connect(host: String, port: Int, timeoutMilliseconds: Int32) throws -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw SSHError.connect(host: host, port: port, reason: "not an IPv4 address")
        }
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SSHError.connect(host: host, port: port, reason: String(cString: strerror(errno))) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)

        // Non-blocking connect, so an unanswered SYN cannot stall us past the timeout.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw SSHError.connect(host: host, port: port, reason: reason)
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&pfd, 1, timeoutMilliseconds)
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
            guard ready == 1, socketError == 0 else {
                close(fd)
                let reason = ready == 0 ? "timed out" : String(cString: strerror(socketError))
                throw SSHError.connect(host: host, port: port, reason: reason)
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
        return fd
    }
}
