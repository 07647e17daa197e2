// How a VM is networked: QEMU's user network (outbound NAT), the same cut off from
// everything but the forwarded ports, or no network card at all.

public enum NetworkMode: String, Codable, Sendable, CaseIterable {
    /// QEMU user networking: the guest reaches the host (10.0.2.2) and the outside through NAT.
    case user
    /// User networking with `restrict=on`: the guest reaches nothing (no host services, no
    /// route out); only the SSH forward and `-p` ports come in.
    case isolated
    /// No network card. Commands reach the guest through the guest agent (virtio-serial).
    case none

    public var hasNetworkCard: Bool { self != .none }
}
