// Where podman-bootc keeps installed disks and VM state on this host.

import Foundation

/// The folders podman-bootc owns. Root uses a system folder that libvirt's QEMU user can
/// traverse (QEMU runs as libvirt-qemu under qemu:///system and cannot enter /root);
/// other users keep state under their XDG data home.
public struct StateLocations: Sendable {
    public var root: URL

    public init(root: URL) { self.root = root }

    /// PODMAN_BOOTC_STATE_DIR, else /var/lib/podman-bootc for root, else $XDG_DATA_HOME/podman-bootc.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) -> StateLocations {
        if let dir = environment["PODMAN_BOOTC_STATE_DIR"], !dir.isEmpty {
            return StateLocations(root: URL(fileURLWithPath: dir))
        }
        if geteuid() == 0 {
            return StateLocations(root: URL(fileURLWithPath: "/var/lib/podman-bootc"))
        }
        let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.local/share")
        return StateLocations(root: URL(fileURLWithPath: dataHome).appendingPathComponent("podman-bootc"))
    }

    public var diskCache: URL { root.appendingPathComponent("cache") }
    public var vms: URL { root.appendingPathComponent("vms") }
    public func vm(_ id: String) -> URL { vms.appendingPathComponent(id) }

    /// Creates the folders, traversable but not listable (0711) so QEMU's user reaches the
    /// files libvirt labels for it and nobody else finds anything; secrets live in 0700 subfolders.
    public func prepare() throws {
        for dir in [root, diskCache, vms] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        secure()
    }

    /// Makes existing state private again (an older version wrote 0755 folders and 0644
    /// disks). Only what is podman-bootc's: cache/ and vms/, and the root itself only when
    /// it holds nothing else (PODMAN_BOOTC_STATE_DIR may name a shared folder such as /tmp).
    public func secure() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: root.path) else { return }
        if Set(entries).isSubset(of: ["cache", "vms"]) { chmod(root.path, StateAccess.passThroughFolder) }
        for dir in [diskCache, vms] where entries.contains(dir.lastPathComponent) {
            var info = stat()
            guard lstat(dir.path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
            chmod(dir.path, StateAccess.passThroughFolder)
            StateAccess.tighten(dir)
        }
    }
}
