// When a user is told how to get KVM: only when the device refuses them and the CPU could use it.

import BootcCore
import Foundation
@testable import Host
import Testing

@Suite struct AcceleratorProbeTests {
    let vmx = "flags\t\t: fpu vme de pse tsc msr pae vmx ssse3\n"
    let noVMX = "flags\t\t: fpu vme de pse tsc msr pae ssse3\n"

    func advice(refused: Bool, cpuinfo: String, override: Accelerator? = nil) -> String? {
        AcceleratorProbe.accessAdvice(for: .host, override: override, device: "/dev/kvm", refused: refused, group: "kvm",
                                      cpuinfo: cpuinfo, user: "ada")
    }

    @Test func aRefusedUserOnACapableHostIsToldToJoinTheGroup() {
        #expect(advice(refused: true, cpuinfo: vmx)?.contains("sudo usermod -aG kvm ada, then log in again") == true)
    }

    @Test func nothingIsSaidWhenKVMWouldNotHelpOrIsOpen() {
        #expect(advice(refused: false, cpuinfo: vmx) == nil)
        #expect(advice(refused: true, cpuinfo: noVMX) == nil || Architecture.host == .aarch64)
        #expect(advice(refused: true, cpuinfo: vmx, override: .tcg) == nil, "the user chose emulation")
    }
}
