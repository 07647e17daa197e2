// `-p [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]`: a port of the guest published on the host.

public struct PortForward: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Proto: String, Codable, Sendable { case tcp, udp }

    public var hostAddress: String
    public var hostPort: Int
    public var guestPort: Int
    public var proto: Proto

    public init(hostAddress: String = "127.0.0.1", hostPort: Int, guestPort: Int, proto: Proto = .tcp) {
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.guestPort = guestPort
        self.proto = proto
    }

    /// Parses podman's -p syntax; the host address defaults to 127.0.0.1, never all interfaces.
    public init?(parsing text: String) {
        var spec = Substring(text)
        var proto = Proto.tcp
        if let slash = spec.lastIndex(of: "/") {
            guard let parsed = Proto(rawValue: String(spec[spec.index(after: slash)...])) else { return nil }
            proto = parsed
            spec = spec[..<slash]
        }
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let address: String
        let host: String, guest: String
        switch parts.count {
        case 2: (address, host, guest) = ("127.0.0.1", parts[0], parts[1])
        case 3: (address, host, guest) = (parts[0], parts[1], parts[2])
        default: return nil
        }
        guard let hostPort = Self.port(host), let guestPort = Self.port(guest), Self.isIPv4(address) else { return nil }
        self.init(hostAddress: address, hostPort: hostPort, guestPort: guestPort, proto: proto)
    }

    /// 1-65535 written as plain ASCII digits ("+80", "٨٠" and "080000" are not ports).
    static func port(_ text: String) -> Int? {
        guard (1...5).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
              let value = Int(text), (1...65535).contains(value) else { return nil }
        return value
    }

    /// Whether a decoded forward (from a VM record someone may have edited) is one we could have made.
    public var isValid: Bool {
        (1...65535).contains(hostPort) && (1...65535).contains(guestPort) && Self.isIPv4(hostAddress)
    }

    /// Dotted-quad IPv4 only: QEMU's user networking forwards IPv4.
    static func isIPv4(_ text: String) -> Bool {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { $0.count <= 3 && $0.utf8.allSatisfy({ (0x30...0x39).contains($0) }) && UInt8($0) != nil }
    }

    /// The QEMU `hostfwd=` value.
    public var hostfwd: String { "\(proto.rawValue):\(hostAddress):\(hostPort)-:\(guestPort)" }

    public var description: String { "\(hostAddress):\(hostPort)->\(guestPort)/\(proto.rawValue)" }
}
