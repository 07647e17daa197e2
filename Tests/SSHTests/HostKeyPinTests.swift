// Host key pinning: first contact pins (0600), the same key passes, another key is refused.

import Foundation
@testable import SSH
import Testing

@Suite struct HostKeyPinTests {
    @Test func pinsThenVerifies() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pin = HostKeyPin(file: dir.appendingPathComponent("host_key"))
        let first = SSHKeyPair().publicKeyBlob, other = SSHKeyPair().publicKeyBlob

        try pin.verify(first, vm: "vm")
        let mode = try FileManager.default.attributesOfItem(atPath: pin.file.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try pin.verify(first, vm: "vm")
        #expect(throws: HostKeyMismatch.self) { try pin.verify(other, vm: "vm") }
    }
}
