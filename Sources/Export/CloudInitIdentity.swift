// A VM's identity as a cloud-init NoCloud seed: the portable form of what our own VMs get as
// systemd credentials (user, authorized key, host key, hostname), for hosts where SMBIOS and
// fw_cfg do not reach the guest (KubeVirt, OpenStack, another hypervisor).

import BootcCore
import Foundation
import Yams

public struct CloudInitIdentity: Equatable, Sendable {
    public var hostname: String
    public var user: GuestUser
    public var authorizedKeyLine: String
    /// The guest's own host key, pinned on the client before the first connection.
    public var hostPrivateKey: String
    public var hostPublicKeyLine: String

    public init(hostname: String, user: GuestUser, authorizedKeyLine: String, hostPrivateKey: String, hostPublicKeyLine: String) {
        self.hostname = hostname
        self.user = user
        self.authorizedKeyLine = authorizedKeyLine
        self.hostPrivateKey = hostPrivateKey
        self.hostPublicKeyLine = hostPublicKeyLine
    }

    private struct SSHKeys: Encodable {
        var ed25519_private: String
        var ed25519_public: String
    }

    private struct User: Encodable {
        var name: String
        var ssh_authorized_keys: [String]
        var lock_passwd = true
        var sudo: String?
        var shell: String?
    }

    private struct CloudConfig: Encodable {
        var hostname: String
        var preserve_hostname = false
        var ssh_pwauth = false
        var disable_root = false
        var users: [User]
        var ssh_deletekeys = true
        var ssh_genkeytypes: [String] = []
        var ssh_keys: SSHKeys?
    }

    /// `user-data` as cloud-config. Every value goes through the YAML encoder, so no key or
    /// name can add lines of its own. Without `includeHostKey` the guest makes its own host
    /// key (its first connection then cannot be verified in advance).
    public func userData(includeHostKey: Bool = true) throws -> String {
        let account = user.isRoot
            ? User(name: "root", ssh_authorized_keys: [authorizedKeyLine])
            : User(name: user.name, ssh_authorized_keys: [authorizedKeyLine], sudo: "ALL=(ALL) NOPASSWD:ALL", shell: "/bin/bash")
        let config = CloudConfig(
            hostname: hostname, users: [account],
            ssh_deletekeys: includeHostKey, ssh_genkeytypes: includeHostKey ? [] : ["ed25519"],
            ssh_keys: includeHostKey ? SSHKeys(ed25519_private: hostPrivateKey, ed25519_public: hostPublicKeyLine) : nil)
        return "#cloud-config\n" + (try ExportYAML.encode(config))
    }

    /// `meta-data`: a new instance-id makes cloud-init apply the seed again on a copied disk.
    public func metaData(instanceID: String) throws -> String {
        try ExportYAML.encode(["instance-id": instanceID, "local-hostname": hostname])
    }

    /// The pinned host key as an OpenSSH known_hosts line, used with `-o HostKeyAlias=NAME`.
    public var knownHostsLine: String {
        let fields = hostPublicKeyLine.split(separator: " ")
        return "\(hostname) \(fields.prefix(2).joined(separator: " "))\n"
    }
}

/// YAML as podman-bootc writes it for other tools: no folded lines (a key stays on one line)
/// and multi-line values, such as a private key, as literal blocks.
enum ExportYAML {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        var options = YAMLEncoder.Options()
        options.width = -1
        options.newLineScalarStyle = .literal
        options.allowUnicode = true
        let encoder = YAMLEncoder()
        encoder.options = options
        return try encoder.encode(value)
    }
}
