// SSH failures, with libssh2's own message where it has one.

import BootcCore

public enum SSHError: ToolError {
    case connect(host: String, port: Int, reason: String)
    case handshake(String)
    case authentication(user: String, reason: String)
    case channel(String)
    case io(String)

    public var description: String {
        switch self {
        case .connect(let host, let port, let reason): "cannot connect to \(host):\(port): \(reason)"
        case .handshake(let reason): "SSH handshake failed: \(reason)"
        case .authentication(let user, let reason): "SSH authentication as \(user) failed: \(reason)"
        case .channel(let reason): "SSH channel failed: \(reason)"
        case .io(let reason): "SSH connection failed: \(reason)"
        }
    }
}
