// Host key pinning: the generated key is pinned (0600), it passes, any other key is refused,
// and a VM without a pin is refused too (no trust on first use).

import Foundation
@testable import SSH
import Testing

@Suite struct HostKeyPinTests {
    @Test func pinnedKeyPassesOthersAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pin = HostKeyPin(file: dir.appendingPathComponent("host_key"))
        let generated = SSHKeyPair().publicKeyBlob, other = SSHKeyPair().publicKeyBlob

        #expect(throws: HostKeyMismatch.self) { try pin.verify(generated, vm: "vm") }
        try pin.pin(generated)
        let mode = try FileManager.default.attributesOfItem(atPath: pin.file.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try pin.verify(generated, vm: "vm")
        #expect(throws: HostKeyMismatch.self) { try pin.verify(other, vm: "vm") }
    }
}
