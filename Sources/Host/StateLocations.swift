// Where podman-bootc keeps installed disks and VM state on this host.

import Foundation

/// The folders podman-bootc owns. Root uses a system folder that libvirt's QEMU user can
/// traverse (QEMU runs as libvirt-qemu under qemu:///system and cannot enter /root);
/// other users keep VM state under their XDG data home and installed disks (which can be
/// made again) under their XDG cache home.
public struct StateLocations: Sendable {
    /// VMs live here (and, for root, the disk cache).
    public var root: URL
    /// Installed disks, warm states, cloud-init seeds.
    public var diskCache: URL

    public init(root: URL, diskCache: URL? = nil) {
        self.root = root
        self.diskCache = diskCache ?? root.appendingPathComponent("cache")
    }

    /// PODMAN_BOOTC_STATE_DIR (VMs and cache in it), else /var/lib/podman-bootc for root,
    /// else $XDG_DATA_HOME/podman-bootc and $XDG_CACHE_HOME/podman-bootc (by default
    /// ~/.local/share/podman-bootc and ~/.cache/podman-bootc).
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment,
                               isRoot: Bool = geteuid() == 0) -> StateLocations {
        if let dir = environment["PODMAN_BOOTC_STATE_DIR"], !dir.isEmpty {
            return StateLocations(root: URL(fileURLWithPath: dir))
        }
        if isRoot {
            return StateLocations(root: URL(fileURLWithPath: "/var/lib/podman-bootc"))
        }
        let home = environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? NSHomeDirectory()
        func xdg(_ name: String, default fallback: String) -> URL {
            // The XDG spec: a relative path is invalid and must be ignored.
            let value = environment[name].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? (home + "/" + fallback)
            return URL(fileURLWithPath: value).appendingPathComponent("podman-bootc")
        }
        return StateLocations(root: xdg("XDG_DATA_HOME", default: ".local/share"),
                              diskCache: xdg("XDG_CACHE_HOME", default: ".cache"))
    }

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
        // A user's cache lives apart (~/.cache/podman-bootc), wholly ours.
        if diskCache.deletingLastPathComponent().standardizedFileURL != root.standardizedFileURL {
            var info = stat()
            if lstat(diskCache.path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                chmod(diskCache.path, StateAccess.passThroughFolder)
                StateAccess.tighten(diskCache)
            }
        }
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
