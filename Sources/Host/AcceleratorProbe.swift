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

    static func hasVirtualizationFlag(cpuinfo: String) -> Bool {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            let flags = line.split(separator: " ")
            return flags.contains("vmx") || flags.contains("svm")
        }
        return false
    }
}
