// An authenticated libssh2 session over a TCP socket; owns both.

import Foundation
internal import CLibSSH2

// Sendable by use: one task at a time drives a session (libssh2 sessions are not thread-safe);
// the C handle and socket are immutable after init, `handshakeCompleted` changes only in init and close.
public final class SSHSession: @unchecked Sendable {
    // Used from one thread at a time: the caller's.
    let session: OpaquePointer
    let socket: Int32
    // Disconnecting is only valid after a completed handshake (libssh2 crashes otherwise).
    private var handshakeCompleted = false

    static let libraryReady: Void = { _ = libssh2_init(0) }()

    /// Connects, completes the SSH handshake, lets `verifyHostKey` accept or reject the server's
    /// host key (its SSH wire blob) before anything is sent, and authenticates with the key file.
    /// `timeout` bounds the TCP connect and every blocking libssh2 call. With `reconnectWhileSilent`
    /// a new connection is made that often while earlier ones stay silent (a booting guest
    /// behind QEMU's user network; see GreetedConnection), within `timeout`.
    public convenience init(host: String, port: Int, user: String, privateKey: URL, timeout: Duration,
                            reconnectWhileSilent: Duration? = nil, verifyHostKey: (Data) throws -> Void) throws {
        let milliseconds = Int32(clamping: Self.milliseconds(timeout))
        let socket = try reconnectWhileSilent.map {
            try GreetedConnection.open(host: host, port: port, timeoutMilliseconds: milliseconds,
                                       spacingMilliseconds: Int32(clamping: Self.milliseconds($0)))
        } ?? Self.connect(host: host, port: port, timeoutMilliseconds: milliseconds)
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

    var lastError: String { lastErrorText(of: session) }

    static func connect(host: String, port: Int, timeoutMilliseconds: Int32) throws -> Int32 {
        try TCPConnection.open(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds)
    }
}

/// libssh2's last error on `session`, as text.
func lastErrorText(of session: OpaquePointer) -> String {
    var message: UnsafeMutablePointer<CChar>?
    var length: Int32 = 0
    let code = libssh2_session_last_error(session, &message, &length, 0)
    let text = message.map { String(cString: $0) } ?? ""
    return text.isEmpty ? "libssh2 error \(code)" : text
}
