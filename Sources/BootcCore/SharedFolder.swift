// A host folder shared into the guest (`-v HOST_DIR:GUEST_DIR[:ro]`) over virtiofs: parsed
// and checked here, so nothing the user typed reaches XML, fstab or a shell unchecked.

import Foundation

public struct SharedFolder: Codable, Sendable, Equatable {
    /// Absolute, on the host (the CLI resolves a relative one against the current folder).
    public var hostPath: String
    /// Absolute, in the guest.
    public var guestPath: String
    public var readOnly: Bool

    public init(hostPath: String, guestPath: String, readOnly: Bool) {
        self.hostPath = hostPath
        self.guestPath = guestPath
        self.readOnly = readOnly
    }

    /// The virtiofs tag of the `index`th folder (the guest mounts by it; at most 36 bytes).
    public static func tag(_ index: Int) -> String { "podman-bootc-\(index)" }

    /// HOST_DIR:GUEST_DIR[:ro|:rw] with both paths absolute (the host's may be made so by the
    /// caller first). Paths may not hold ':' (the separator), control characters, '..'
    /// components, or whitespace (fstab separates fields with it); the guest path may not be /.
    public init?(parsing text: String, currentFolder: String) {
        var parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var readOnly = false
        if parts.count == 3 {
            guard ["ro", "rw"].contains(parts[2]) else { return nil }
            readOnly = parts[2] == "ro"
            parts.removeLast()
        }
        guard parts.count == 2, !parts[0].isEmpty else { return nil }
        let host = parts[0].hasPrefix("/") ? parts[0] : currentFolder + "/" + parts[0]
        guard let hostPath = Self.normalized(host), let guestPath = Self.normalized(parts[1]), parts[1].hasPrefix("/"),
              guestPath != "/" else { return nil }
        self.init(hostPath: hostPath, guestPath: guestPath, readOnly: readOnly)
    }

    /// An absolute path without '.', empty or trailing components; nil for '..' or unsafe text.
    static func normalized(_ path: String) -> String? {
        guard path.hasPrefix("/"), !path.isEmpty, path.utf8.count < 4096,
              path.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7f && $0 != "\\" }) else { return nil }
        var components: [Substring] = []
        for component in path.split(separator: "/") where component != "." {
            guard component != ".." else { return nil }
            components.append(component)
        }
        return "/" + components.joined(separator: "/")
    }

    /// The fstab line that mounts it (the `fstab.extra` credential systemd 254+ reads at boot).
    public func fstabLine(index: Int) -> String {
        "\(Self.tag(index)) \(guestPath) virtiofs \(readOnly ? "ro," : "")nofail 0 0"
    }
}

extension [SharedFolder] {
    /// The `fstab.extra` credential mounting every folder (nil for none).
    public var fstabCredential: SystemdCredential? {
        guard !isEmpty else { return nil }
        let lines = enumerated().map { $0.element.fstabLine(index: $0.offset) }.joined(separator: "\n") + "\n"
        return SystemdCredential(name: "fstab.extra", value: Data(lines.utf8))
    }
}
