// Who a VM is: its name, its login user and key, its SSH host key.

import BootcCore
import Foundation
import SSH

/// A VM's identity: its login keys and host key, as credentials at a cold boot and as the
/// identity step gives it to a restored guest.
struct VMIdentity: Sendable {
    var name: String
    var user: GuestUser
    var authorizedKeyLine: String
    var hostPrivateKey: String
    var hostPublicKeyLine: String
    /// The VM's own public credentials (tmpfiles.extra, sysusers.extra), written over the
    /// template's copies the restored guest still holds.
    var publicCredentials: [SystemdCredential] = []
    /// Only the guest agent runs commands at first (a `--rm` run with a command): the login
    /// keys are written in the background, and a later SSH login waits for them.
    var loginInBackground = false
    /// A VM that outlives the run: the identity step gives it its own machine-id too.
    var kept = false

    /// The credentials that carry this identity at a cold boot.
    var credentials: [SystemdCredential] {
        SystemdCredentials.sshAccess(authorizedKeyLine: authorizedKeyLine, user: user,
                                     hostPrivateKey: hostPrivateKey, hostPublicKeyLine: hostPublicKeyLine)
    }

    /// A new client key (written to `privateKey`, 0600) and host key (its public half pinned in
    /// `pinnedHostKey` before any connection, so none is unverified).
    static func make(name: String, user: GuestUser, privateKey: URL, pinnedHostKey: URL, comment: String) throws -> VMIdentity {
        let key = SSHKeyPair()
        try key.write(privateKeyTo: privateKey, comment: comment)
        let hostKey = SSHKeyPair()
        try HostKeyPin(file: pinnedHostKey).pin(hostKey.publicKeyBlob)
        var identity = VMIdentity(
            name: name, user: user, authorizedKeyLine: key.authorizedKeyLine(comment: comment),
            hostPrivateKey: hostKey.openSSHPrivateKey(comment: comment + "-host"),
            hostPublicKeyLine: hostKey.authorizedKeyLine(comment: comment + "-host"))
        identity.publicCredentials = identity.credentials.filter { !$0.isSecret }
        return identity
    }
}
