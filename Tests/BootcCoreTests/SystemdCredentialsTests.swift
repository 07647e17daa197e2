// The SMBIOS OEM string that installs root's SSH key in the guest.

import BootcCore
import Foundation
import GoldenFiles
import Testing

@Suite struct SystemdCredentialsTests {
    static let keyLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQWfGrJ1Y1TZ2w4hOJ8IfdpqGJqCWVnH4l1aoXy8xX0 podman-bootc-test"

    @Test func authorizedKeysCredential() throws {
        try Golden.check(SystemdCredentials.authorizedKeysForRoot(Self.keyLine) + "\n", "authorized-keys-credential.txt")
    }

    @Test func credentialDecodesToTmpfilesLines() throws {
        let oem = SystemdCredentials.authorizedKeysForRoot(Self.keyLine)
        let prefix = "io.systemd.credential.binary:tmpfiles.extra="
        #expect(oem.hasPrefix(prefix))
        let tmpfiles = String(decoding: Data(base64Encoded: String(oem.dropFirst(prefix.count)))!, as: UTF8.self)
        let lines = tmpfiles.split(separator: "\n")
        #expect(lines.first == "d /root/.ssh 0700 root root -")
        let fields = lines[1].split(separator: " ")
        #expect(fields.prefix(6) == ["f+~", "/root/.ssh/authorized_keys", "0600", "root", "root", "-"])
        let key = String(decoding: Data(base64Encoded: String(fields[6]))!, as: UTF8.self)
        #expect(key == Self.keyLine + "\n")
    }
}
