// Which libvirt URIs name another host, and what podman-bootc needs from them to reach that
// host's guests: an SSH transport, its user, host, port and key options.

import Foundation

/// A libvirt URI naming a remote host reached over SSH (qemu+ssh://USER@HOST:PORT/system).
public struct RemoteLibvirtURI: Sendable, Equatable {
    public var uri: String
    public var user: String?
    public var host: String
    public var port: Int?
    /// qemu:///session of the SSH user rather than the host's system daemon.
    public var isSession: Bool
    /// `?keyfile=` and `?known_hosts=`, as libvirt's SSH transports take them.
    public var keyFile: String?
    public var knownHosts: String?

    /// nil for a URI of this machine; a remote URI without an SSH transport, or not naming
    /// /system or /session, is an error (its guests could not be reached).
    public static func parse(_ uri: String) throws -> RemoteLibvirtURI? {
        guard let parts = URLComponents(string: uri), let scheme = parts.scheme else { return nil }
        let host = parts.host ?? ""
        guard !host.isEmpty else { return nil }
        let transport = scheme.split(separator: "+", maxSplits: 1).dropFirst().first.map(String.init) ?? "tls"
        guard ["ssh", "libssh2", "libssh"].contains(transport) else {
            throw RemoteURIError.transport(uri: uri, transport: transport)
        }
        guard scheme.hasPrefix("qemu+") else { throw RemoteURIError.driver(uri: uri) }
        guard parts.path == "/system" || parts.path == "/session" else { throw RemoteURIError.path(uri: uri) }
        guard !host.hasPrefix("-"), !(parts.user ?? "").hasPrefix("-"), host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f }) else {
            throw RemoteURIError.host(uri: uri)
        }
        let query = parts.queryItems ?? []
        func parameter(_ name: String) -> String? { query.first { $0.name == name }?.value.flatMap { $0.isEmpty ? nil : $0 } }
        return RemoteLibvirtURI(uri: uri, user: parts.user.flatMap { $0.isEmpty ? nil : $0 }, host: host, port: parts.port,
                                isSession: parts.path == "/session", keyFile: parameter("keyfile"), knownHosts: parameter("known_hosts"))
    }
}

public enum RemoteURIError: ToolError {
    case transport(uri: String, transport: String)
    case driver(uri: String)
    case path(uri: String)
    case host(uri: String)

    public var exitCode: Int32 { ExitStatus.usage }

    public var description: String {
        switch self {
        case .transport(let uri, let transport):
            return "\(uri) reaches its host over \(transport); podman-bootc reaches a remote VM's SSH server through an SSH "
                + "session to its host, so a remote URI must use SSH: qemu+ssh://USER@HOST/system (or /session)"
        case .driver(let uri):
            return "\(uri) is not a QEMU URI; remote VMs need qemu+ssh://USER@HOST/system (or /session)"
        case .path(let uri):
            return "\(uri) names neither /system nor /session; use qemu+ssh://USER@HOST/system or qemu+ssh://USER@HOST/session"
        case .host(let uri):
            return "\(uri) names no usable host"
        }
    }
}

/// The hypervisor host an SSH tunnel goes through, as a libvirt qemu+ssh URI names it.
public struct JumpHost: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    /// Private keys to try (after the agent), in order; missing files are skipped.
    public var keyFiles: [String]
    /// The OpenSSH known_hosts file the host's key must be listed in.
    public var knownHosts: String

    public init(host: String, port: Int, user: String, keyFiles: [String], knownHosts: String) {
        self.host = host
        self.port = port
        self.user = user
        self.keyFiles = keyFiles
        self.knownHosts = knownHosts
    }

    /// How OpenSSH names the host in known_hosts.
    public var knownHostsName: String { port == 22 ? host : "[\(host)]:\(port)" }
}

extension RemoteLibvirtURI {
    /// The SSH hop to the host as OpenSSH would make it for `localUser`: the URI's user (else
    /// the local one), port (else 22), key file and known_hosts (else the user's defaults).
    public func jumpHost(localUser: String, home: String) -> JumpHost {
        let defaults = ["id_ed25519", "id_ecdsa", "id_rsa"].map { home + "/.ssh/" + $0 }
        return JumpHost(host: host, port: port ?? 22, user: user ?? localUser, keyFiles: (keyFile.map { [$0] } ?? []) + defaults,
                        knownHosts: knownHosts ?? home + "/.ssh/known_hosts")
    }
}
