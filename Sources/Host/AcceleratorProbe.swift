// Decides whether KVM really works here: /dev/kvm existing is not enough.

import BootcCore
import Foundation

public enum AcceleratorProbe {
    /// KVM when it is usable, else TCG. An override (flag or PODMAN_BOOTC_ACCEL) wins.
    ///
    /// On x86_64 a usable KVM needs the vmx or svm CPU flag: some hosts (nested PVM, seen on
    /// the project's CI machines) expose a /dev/kvm that creates VMs but cannot run a stock
    /// kernel. On aarch64 there is no such flag; a /dev/kvm that opens read-write is taken.
    public static func choose(for guest: Architecture, override: Accelerator?) -> Accelerator {
        if let override { return override }
        guard guest == .host else { return .tcg }
        guard access("/dev/kvm", R_OK | W_OK) == 0 else { return .tcg }
        switch guest {
        case .x86_64:
            guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return .tcg }
            return hasVirtualizationFlag(cpuinfo: cpuinfo) ? .kvm : .tcg
        case .aarch64:
            return .kvm
        }
    }

    /// What to tell a user who cannot open /dev/kvm on a host whose CPU could use it: how to
    /// join the device's group. Nil when KVM is open to them, absent, or of no use here.
    public static func accessAdvice(for guest: Architecture, override: Accelerator?, device: String = "/dev/kvm",
                                    cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
                                    user: String = currentUserName()) -> String? {
        var info = stat()
        guard stat(device, &info) == 0 else { return nil }
        let refused = access(device, R_OK | W_OK) != 0 && errno == EACCES
        let group = getgrgid(info.st_gid).map { String(cString: $0.pointee.gr_name) } ?? "\(info.st_gid)"
        return accessAdvice(for: guest, override: override, device: device, refused: refused, group: group,
                            cpuinfo: cpuinfo ?? "", user: user)
    }

    static func accessAdvice(for guest: Architecture, override: Accelerator?, device: String, refused: Bool, group: String,
                             cpuinfo: String, user: String) -> String? {
        guard override == nil, guest == .host, refused else { return nil }
        if guest == .x86_64 && !hasVirtualizationFlag(cpuinfo: cpuinfo) { return nil }
        return "note: you cannot open \(device) (it belongs to group \(group)), so VMs run under software emulation, "
            + "several times slower. To use KVM: sudo usermod -aG \(group) \(user), then log in again"
    }

    public static func currentUserName() -> String {
        getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "$USER"
    }

    static func hasVirtualizationFlag(cpuinfo: String) -> Bool {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            let flags = line.split(separator: " ")
            return flags.contains("vmx") || flags.contains("svm")
        }
        return false
    }
}
