// Reading a VM's console: the firmware's refusal of an untrusted boot loader is found; what a
// normally booting Secure Boot guest prints is not taken for one.

@testable import BootcPipeline
import Foundation
import Testing

@Suite struct ConsoleLogTests {
    func log(_ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString.prefix(8)).log")
        try Data(text.utf8).write(to: file)
        return file
    }

    @Test func findsTheFirmwaresRefusal() throws {
        let file = try log("""
            BdsDxe: loading Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x1,0x1)/Pci(0x0,0x0)\r
            \u{1B}[0mBdsDxe: failed to load Boot0001 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x1,0x1)/Pci(0x0,0x0): Access Denied\r
            BdsDxe: failed to start Boot0002 "EFI Internal Shell" from Fv(7CB8): Security Violation\r

            """)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(ConsoleLog.firmwareRefusal(file)?.hasSuffix(": Access Denied") == true)
        let shim = try log("Verification failed: (0x1A) Security Violation\n")
        defer { try? FileManager.default.removeItem(at: shim) }
        #expect(ConsoleLog.firmwareRefusal(shim) != nil)
    }

    @Test func aNormalBootIsNoRefusal() throws {
        let file = try log("""
            [    0.000000] Kernel is locked down from EFI Secure Boot; see man kernel_lockdown.7
            [    5.100000] hello: module verification failed: signature and/or required key missing - tainting kernel
            sshd[300]: Access denied for user nobody by PAM account configuration
            podman-bootc-test login:
            """)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(ConsoleLog.firmwareRefusal(file) == nil)
    }
}
