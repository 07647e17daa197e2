// `dev` on a guest whose /usr is read-only (every installed bootc system: an ostree deployment
// or composefs): before an edit under /usr is written, /usr is made writable until the guest
// reboots, the way the guest's own tools do it: `bootc usr-overlay`, else `ostree admin
// unlock`, else a transient overlay that podman-bootc mounts itself (its upper layer on the
// guest's /run tmpfs). Changes then land in that overlay and vanish at the next boot, as a
// user of those tools expects.

import BootcCore
import Foundation

/// How a guest's /usr was made writable (or that it already was).
package enum UsrWritability: String, Sendable, Codable, Equatable {
    /// A plain root: /usr is writable and edits stay on the disk.
    case writable
    case bootcUsrOverlay = "bootc usr-overlay"
    case ostreeUnlock = "ostree admin unlock"
    /// podman-bootc's own overlay on the guest's /run.
    case transientOverlay = "transient overlay"

    /// Edits live only until the guest reboots.
    package var isTransient: Bool { self != .writable }

    /// For the per-edit line.
    package var note: String {
        switch self {
        case .writable: ""
        case .bootcUsrOverlay, .ostreeUnlock: "/usr made writable until reboot with `\(rawValue)`"
        case .transientOverlay: "/usr made writable until reboot with a transient overlay"
        }
    }
}

package struct WritableUsrError: ToolError {
    var detail: String
    package var description: String {
        "the guest's /usr is read-only and could not be made writable (\(detail)); rebuild and reboot instead (podman-bootc rm, then run), "
            + "or make the image's /usr writable"
    }
}

enum WritableUsr {
    /// Where the guest remembers, until it reboots (/run is a tmpfs), how /usr was unlocked.
    static let marker = "/run/podman-bootc/usr-writable"

    /// Whether `operations` write under /usr, or under the folders a merged-/usr system links
    /// into it (/bin, /sbin, /lib, /lib64).
    static func touchesUsr(_ operations: [GuestFileOperation]) -> Bool {
        operations.contains { operation in
            ["/usr", "/bin", "/sbin", "/lib", "/lib64"].contains { operation.path == $0 || operation.path.hasPrefix($0 + "/") }
        }
    }

    /// Fixed text, run as root in the guest (sh): prints one line, a `UsrWritability` raw value.
    /// `test -w` is false on a read-only mount even for root (access(2) says EROFS).
    static let script = """
        set -u
        if [ -w /usr ]; then
          if [ -r \(marker) ]; then cat \(marker); else echo writable; fi
          exit 0
        fi
        mkdir -p /run/podman-bootc || exit 1
        how=
        if command -v bootc >/dev/null 2>&1 && bootc usr-overlay >/run/podman-bootc/usr-writable.log 2>&1 && [ -w /usr ]; then
          how='\(UsrWritability.bootcUsrOverlay.rawValue)'
        elif command -v ostree >/dev/null 2>&1 && [ -e /run/ostree-booted ] \\
            && ostree admin unlock >/run/podman-bootc/usr-writable.log 2>&1 && [ -w /usr ]; then
          how='\(UsrWritability.ostreeUnlock.rawValue)'
        else
          layers=/run/podman-bootc/usr-overlay
          mkdir -p "$layers/upper" "$layers/work" || exit 1
          # The upper layer takes the labels the policy gives /usr (restorecon relabels uploads).
          context=
          if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce 2>/dev/null)" != Disabled ]; then
            context=$(stat -c %C /usr 2>/dev/null) || context=
          fi
          if [ -n "$context" ] && [ "$context" != '?' ]; then
            chcon "$context" "$layers/upper" "$layers/work" 2>/dev/null || true
          fi
          mount -t overlay podman-bootc-usr -o "lowerdir=/usr,upperdir=$layers/upper,workdir=$layers/work" /usr \\
            >>/run/podman-bootc/usr-writable.log 2>&1 || { cat /run/podman-bootc/usr-writable.log >&2; exit 1; }
          how='\(UsrWritability.transientOverlay.rawValue)'
        fi
        echo "$how" > \(marker)
        echo "$how"
        """

    /// Runs the script over `session`; the way /usr is writable now.
    static func ensure(over session: any GuestSession) async throws -> UsrWritability {
        let result = try await session.run(script, input: Data())
        let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
        guard result.status == 0, let writability = UsrWritability(rawValue: line) else {
            throw WritableUsrError(detail: result.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").suffix(3)
                .joined(separator: "; "))
        }
        return writability
    }
}
