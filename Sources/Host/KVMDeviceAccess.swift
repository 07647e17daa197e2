// Whether libvirt's QEMU user can open /dev/kvm: without udev the device stays 0600 root,
// and libvirtd then re-probes QEMU at every domain lookup (about a minute per VM start).

import Foundation

public enum KVMDeviceAccess {
    /// The owner, group and permission bits of a device, and the QEMU user's identity.
    public struct Facts: Sendable, Equatable {
        public var deviceUID: uid_t
        public var deviceGID: gid_t
        public var mode: mode_t
        public var qemuUID: uid_t
        public var qemuGroups: [gid_t]

        public init(deviceUID: uid_t, deviceGID: gid_t, mode: mode_t, qemuUID: uid_t, qemuGroups: [gid_t]) {
            self.deviceUID = deviceUID
            self.deviceGID = deviceGID
            self.mode = mode
            self.qemuUID = qemuUID
            self.qemuGroups = qemuGroups
        }

        /// Read and write access as the kernel decides it for that user (owner, else group, else other).
        public var qemuCanOpen: Bool {
            let rw: mode_t = 0o6
            if qemuUID == 0 { return true }
            if qemuUID == deviceUID { return (mode >> 6) & rw == rw }
            if qemuGroups.contains(deviceGID) { return (mode >> 3) & rw == rw }
            return mode & rw == rw
        }
    }

    /// libvirt's QEMU user on Debian and Ubuntu (qemu.conf's default `user`).
    public static let debianQEMUUser = "libvirt-qemu"

    /// The `user = "..."` qemu.conf sets (podman-bootc's container sets root), else Debian's default.
    public static func configuredQEMUUser(qemuConf: String? = try? String(contentsOfFile: "/etc/libvirt/qemu.conf", encoding: .utf8)) -> String {
        for line in (qemuConf ?? "").split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, parts[0] == "user" else { continue }
            let value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            if !value.isEmpty { return value.hasPrefix("+") ? String(value.dropFirst()) : value }
        }
        return debianQEMUUser
    }

    /// The facts on this host, or nil when there is no /dev/kvm or no such user (nothing to say).
    public static func facts(device: String = "/dev/kvm", qemuUser: String = configuredQEMUUser()) -> Facts? {
        var info = stat()
        guard stat(device, &info) == 0, let entry = getpwnam(qemuUser) else { return nil }
        let uid = entry.pointee.pw_uid
        let primary = entry.pointee.pw_gid
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(qemuUser, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(qemuUser, primary, &groups, &count)
        }
        return Facts(deviceUID: info.st_uid, deviceGID: info.st_gid, mode: info.st_mode & 0o7777,
                     qemuUID: uid, qemuGroups: Array(groups.prefix(Int(max(count, 0)))))
    }

    /// One actionable line when the device is there but QEMU's user cannot open it.
    public static func warning(_ facts: Facts?, device: String = "/dev/kvm") -> String? {
        guard let facts, !facts.qemuCanOpen else { return nil }
        let mode = String(facts.mode, radix: 8)
        return "warning: \(device) is mode 0\(mode) and libvirt's QEMU user cannot open it (udev did not set it up), "
            + "so libvirtd re-probes QEMU at every VM start (about a minute each); fix: sudo chgrp kvm \(device) && sudo chmod 0660 \(device) (scripts/setup.sh does it)"
    }
}
