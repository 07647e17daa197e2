// Per-VM ed25519 keys made in-process, encoded the way OpenSSH (and libssh2) read them.

import Crypto
import Foundation
import Host

public struct SSHKeyPair: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey

    public init() { privateKey = Curve25519.Signing.PrivateKey() }

    /// A key from a fixed 32-byte seed: for tests, whose golden files need stable keys.
    public init(seed: Data) throws { privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed) }

    var publicKeyBytes: Data { privateKey.publicKey.rawRepresentation }

    /// The SSH wire encoding of the public key: string "ssh-ed25519", string key.
    public var publicKeyBlob: Data {
        var blob = SSHWire()
        blob.append(string: "ssh-ed25519")
        blob.append(bytes: publicKeyBytes)
        return blob.data
    }

    /// One authorized_keys line.
    public func authorizedKeyLine(comment: String) -> String {
        "ssh-ed25519 \(publicKeyBlob.base64EncodedString()) \(comment)"
    }

    /// The private key in OpenSSH's unencrypted "openssh-key-v1" format (PROTOCOL.key).
    /// `checkInt` is random in real keys; tests fix it.
    public func openSSHPrivateKey(comment: String, checkInt: UInt32 = UInt32.random(in: .min ... .max)) -> String {
        var secret = SSHWire()
        secret.append(uint32: checkInt)
        secret.append(uint32: checkInt)
        secret.append(string: "ssh-ed25519")
        secret.append(bytes: publicKeyBytes)
        secret.append(bytes: privateKey.rawRepresentation + publicKeyBytes)
        secret.append(string: comment)
        var pad: UInt8 = 1
        while secret.data.count % 8 != 0 {
            secret.data.append(pad)
            pad += 1
        }

        var body = SSHWire()
        body.data.append(contentsOf: Array("openssh-key-v1".utf8) + [0])
        body.append(string: "none")
        body.append(string: "none")
        body.append(string: "")
        body.append(uint32: 1)
        body.append(bytes: publicKeyBlob)
        body.append(bytes: secret.data)

        let base64 = body.data.base64EncodedString()
        var lines = ["-----BEGIN OPENSSH PRIVATE KEY-----"]
        var index = base64.startIndex
        while index < base64.endIndex {
            let end = base64.index(index, offsetBy: 70, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[index..<end]))
            index = end
        }
        lines.append("-----END OPENSSH PRIVATE KEY-----")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes the private key (0600, created so, never world-readable even briefly) and the
    /// public key next to it, in podman-bootc's own (private) state; never through a link.
    public func write(privateKeyTo url: URL, comment: String) throws {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path]) }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try handle.write(contentsOf: Data(openSSHPrivateKey(comment: comment).utf8))
        fchmod(fd, 0o600)
        let pub = open(url.path + ".pub", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard pub >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path + ".pub"]) }
        try FileHandle(fileDescriptor: pub, closeOnDealloc: true).write(contentsOf: Data((authorizedKeyLine(comment: comment) + "\n").utf8))
    }

    /// Writes `name` (the private key) and `name`.pub (0600 both) into `folder`, both new
    /// (O_CREAT|O_EXCL|O_NOFOLLOW relative to the open folder): a file or link planted there
    /// is refused, never written through.
    public func write(into folder: ConfinedFolder, name: String, comment: String) throws {
        let key = try folder.createFile(name, mode: 0o600, replacing: false)
        try Data(openSSHPrivateKey(comment: comment).utf8).withUnsafeBytes { try key.write($0) }
        let pub = try folder.createFile(name + ".pub", mode: 0o600, replacing: false)
        try Data((authorizedKeyLine(comment: comment) + "\n").utf8).withUnsafeBytes { try pub.write($0) }
    }
}

/// SSH wire-format encoding (RFC 4251): big-endian uint32 and length-prefixed strings.
struct SSHWire {
    var data = Data()

    mutating func append(uint32 value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { data.append(contentsOf: $0) }
    }

    mutating func append(bytes: Data) {
        append(uint32: UInt32(bytes.count))
        data.append(bytes)
    }

    mutating func append(string: String) { append(bytes: Data(string.utf8)) }
}
