// OpenSSH key encoding: golden bytes for a fixed key, and OpenSSH itself reading our output.

import Foundation
import GoldenFiles
@testable import SSH
import Testing

@Suite struct SSHKeyPairTests {
    static let seed = Data((0..<32).map { UInt8($0) })

    @Test func goldenEncoding() throws {
        let key = try SSHKeyPair(seed: Self.seed)
        try Golden.check(key.openSSHPrivateKey(comment: "podman-bootc-test", checkInt: 0x0102_0304), "id_ed25519")
        try Golden.check(key.authorizedKeyLine(comment: "podman-bootc-test") + "\n", "id_ed25519.pub")
    }

    @Test func privateKeyFileIs0600AndOpenSSHDerivesTheSamePublicKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ssh-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = SSHKeyPair()
        let file = dir.appendingPathComponent("id_ed25519")
        try key.write(privateKeyTo: file, comment: "c")

        let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        process.arguments = ["-y", "-f", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let derived = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(derived.hasPrefix(key.authorizedKeyLine(comment: "").trimmingCharacters(in: .whitespaces)))
    }

    @Test func twoKeysDiffer() {
        #expect(SSHKeyPair().authorizedKeyLine(comment: "") != SSHKeyPair().authorizedKeyLine(comment: ""))
    }
}
