// The credentials that let podman-bootc log in: authorized keys for root (and a user the
// guest creates), and the generated host key, which must never be a public credential.

import BootcCore
import Foundation
import GoldenFiles
import Testing

@Suite struct SystemdCredentialsTests {
    static let keyLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBQWfGrJ1Y1TZ2w4hOJ8IfdpqGJqCWVnH4l1aoXy8xX0 podman-bootc-test"
    static let hostLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHostKey podman-bootc-host"
    static let hostPrivate = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n-----END OPENSSH PRIVATE KEY-----\n"

    static func render(_ credentials: [SystemdCredential]) -> String {
        credentials.map { "# \($0.name)\($0.isSecret ? " (secret)" : "")\n" + String(decoding: $0.value, as: UTF8.self) }.joined()
    }

    @Test func rootGolden() throws {
        let credentials = SystemdCredentials.sshAccess(authorizedKeyLine: Self.keyLine, user: .root,
                                                       hostPrivateKey: Self.hostPrivate, hostPublicKeyLine: Self.hostLine)
        try Golden.check(Self.render(credentials), "credentials-root.txt")
        #expect(credentials.map(\.name) == ["tmpfiles.extra", SystemdCredentials.hostKeyName])
    }

    @Test func userGolden() throws {
        let user = try #require(GuestUser("dev"))
        let credentials = SystemdCredentials.sshAccess(authorizedKeyLine: Self.keyLine, user: user,
                                                       hostPrivateKey: Self.hostPrivate, hostPublicKeyLine: Self.hostLine)
        try Golden.check(Self.render(credentials), "credentials-user.txt")
        #expect(credentials.map(\.name) == ["tmpfiles.extra", "sysusers.extra", SystemdCredentials.hostKeyName])
    }

    @Test func onlyTheHostKeyIsSecret() {
        let credentials = SystemdCredentials.sshAccess(authorizedKeyLine: Self.keyLine, user: .root,
                                                       hostPrivateKey: Self.hostPrivate, hostPublicKeyLine: Self.hostLine)
        #expect(credentials.filter(\.isSecret).map(\.name) == [SystemdCredentials.hostKeyName])
        #expect(!credentials.filter { !$0.isSecret }.contains { String(decoding: $0.value, as: UTF8.self).contains("PRIVATE KEY") })
    }

    @Test func authorizedKeyDecodesFromTheTmpfilesLine() throws {
        let credentials = SystemdCredentials.sshAccess(authorizedKeyLine: Self.keyLine, user: .root,
                                                       hostPrivateKey: Self.hostPrivate, hostPublicKeyLine: Self.hostLine)
        let oem = credentials[0].oemString
        let prefix = "io.systemd.credential.binary:tmpfiles.extra="
        #expect(oem.hasPrefix(prefix))
        let tmpfiles = String(decoding: Data(base64Encoded: String(oem.dropFirst(prefix.count)))!, as: UTF8.self)
        let fields = tmpfiles.split(separator: "\n")[1].split(separator: " ")
        #expect(fields.prefix(6) == ["f+~", "/root/.ssh/authorized_keys", "0600", "root", "root", "-"])
        #expect(String(decoding: Data(base64Encoded: String(fields[6]))!, as: UTF8.self) == Self.keyLine + "\n")
    }

    @Test(arguments: ["dev", "_svc", "a-b_c9", String(repeating: "a", count: 32)])
    func acceptsPortableUserNames(name: String) {
        #expect(GuestUser(name)?.name == name)
    }

    @Test(arguments: ["", "Dev", "9lives", "-x", "a b", "a\nb", "a:b", "../x", "é", String(repeating: "a", count: 33)])
    func refusesOtherUserNames(name: String) {
        #expect(GuestUser(name) == nil)
    }
}
