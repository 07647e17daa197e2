// systemd credentials handed to the guest through SMBIOS type 11 OEM strings.

import Foundation

public enum SystemdCredentials {
    /// An OEM string carrying a binary (base64) credential.
    public static func oemString(name: String, value: Data) -> String {
        "io.systemd.credential.binary:\(name)=\(value.base64EncodedString())"
    }

    /// A `tmpfiles.extra` credential that (re)writes root's authorized_keys at every boot.
    /// systemd-tmpfiles applies it early, before sshd starts; `f+~` replaces the file with the
    /// base64-decoded argument, so restarts stay idempotent.
    public static func authorizedKeysForRoot(_ authorizedKeyLine: String) -> String {
        let key = Data((authorizedKeyLine + "\n").utf8).base64EncodedString()
        let tmpfiles = """
            d /root/.ssh 0700 root root -
            f+~ /root/.ssh/authorized_keys 0600 root root - \(key)

            """
        return oemString(name: "tmpfiles.extra", value: Data(tmpfiles.utf8))
    }
}
