// Which podman a command talks to: local rootful storage, a named connection, or the rootless
// storage of the user who ran sudo.

import Foundation

public enum PodmanEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// The local podman of the current user (rootful when podman-bootc runs as root).
    case local
    /// A podman system connection (`podman system connection list`): a rootful podman
    /// machine or a remote socket. Only its storage and `podman run` are used through it.
    case connection(String)
    /// Another user's rootless storage, reached from root with runuser (no shell involved).
    case rootless(user: String, home: String)

    /// The argv prefix that replaces a bare "podman".
    public var invocation: [String] {
        switch self {
        case .local:
            return ["podman"]
        case .connection(let name):
            return ["podman", "--connection", name]
        case .rootless(let user, let home):
            // Root's runtime directory would send rootless podman to the wrong place.
            return ["runuser", "-u", user, "--", "env", "-u", "XDG_RUNTIME_DIR", "HOME=\(home)", "podman"]
        }
    }

    /// `argv` (which starts with "podman") aimed at this endpoint.
    public func command(_ argv: [String]) -> [String] {
        precondition(argv.first == "podman", "podman argv expected")
        return invocation + argv.dropFirst()
    }

    public var description: String {
        switch self {
        case .local: geteuid() == 0 ? "rootful podman storage" : "your rootless podman storage"
        case .connection(let name): "podman connection \(name)"
        case .rootless(let user, _): "\(user)'s rootless podman storage"
        }
    }

    /// The rootless storage of the user behind `sudo`, when there is one: SUDO_USER names an
    /// existing non-root account.
    public static func sudoUserStorage(environment: [String: String]) -> PodmanEndpoint? {
        guard geteuid() == 0, let user = environment["SUDO_USER"], !user.isEmpty, user != "root",
              let entry = getpwnam(user), entry.pointee.pw_uid != 0, let home = entry.pointee.pw_dir else { return nil }
        return .rootless(user: user, home: String(cString: home))
    }
}
