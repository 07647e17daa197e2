// The script that gives a restored guest its own identity: hostname and clock, then the login
// files (host key, authorized key, credentials). Fixed text run as root; every value travels
// on stdin, none is put into the text. Shell builtins wherever they do: under emulation every
// program started costs ~0.15 s and the first disk access after a restore more.

import BootcCore

enum GuestIdentityScript {
    /// Where a background login step reports (in the agent's private folder).
    static let loginStatus = "/run/podman-bootc-agent/login.status"

    /// Shell functions. `podman_bootc_identity now|background` reads stdin: line 1 hostname,
    /// 2 epoch seconds, 3 login user, 4 authorized key, 5 host public key, 6 a count N, then N
    /// lines "credential base64", then the host private key to the end.
    static let functions = """
        podman_bootc_identity() {
          set -eu
          read -r name; read -r epoch; read -r user; read -r authorized; read -r hostpub; read -r count
          credentials=""
          i=0
          while [ "$i" -lt "$count" ]; do
            read -r line
            credentials="$credentials$line
        "
            i=$((i + 1))
          done
          hostkey=""
          while IFS= read -r line || [ -n "$line" ]; do
            hostkey="$hostkey$line
        "
          done
          printf '%s\\n' "$name" > /proc/sys/kernel/hostname
          date -u -s "@$epoch" >/dev/null 2>&1 || echo "warning: the guest clock was not set" >&2
          if [ "$1" = background ]; then
            (
              set +e
              podman_bootc_login_files > "\(loginStatus).log" 2>&1
              echo "$?" > "\(loginStatus).partial"
              mv -f "\(loginStatus).partial" "\(loginStatus)"
            ) </dev/null >/dev/null 2>&1 &
          else
            podman_bootc_login_files
          fi
        }

        podman_bootc_login_files() {
          umask 077
          # Often a link into the read-only credentials: replaced, not written through.
          if [ -L /etc/ssh/ssh_host_ed25519_key ]; then rm -f /etc/ssh/ssh_host_ed25519_key || return 1; fi
          printf '%s' "$hostkey" > /etc/ssh/ssh_host_ed25519_key || return 1
          umask 022
          printf '%s\\n' "$hostpub" > /etc/ssh/ssh_host_ed25519_key.pub || return 1
          umask 077
          podman_bootc_authorize /root || return 1
          home=
          if [ "$user" != root ]; then
            home=$(getent passwd "$user" | cut -d: -f6)
            [ -n "$home" ] || { echo "user $user does not exist" >&2; return 1; }
            podman_bootc_authorize "$home" || return 1
            chown "$user:" "$home/.ssh" "$home/.ssh/authorized_keys" || return 1
          fi
          if command -v restorecon >/dev/null 2>&1; then
            restorecon -R /root/.ssh /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key.pub ${home:+"$home/.ssh"} || true
          fi
          # The template's credentials, still in this boot's credentials, become this VM's own;
          # in the background: remounting costs about half a second under emulation.
          creds=/run/credentials/@system
          if [ -f "$creds/\(SystemdCredentials.hostKeyName)" ]; then
            (
              mount -o remount,rw "$creds" || exit 0
              printf '%s' "$hostkey" > "$creds/\(SystemdCredentials.hostKeyName)" || true
              printf '%s' "$credentials" | while read -r cname cvalue; do
                [ -n "$cname" ] && [ -f "$creds/$cname" ] && printf '%s' "$cvalue" | base64 -d > "$creds/$cname" || true
              done
              mount -o remount,ro "$creds"
            ) </dev/null >/dev/null 2>&1 &
          fi
        }

        podman_bootc_authorize() {
          [ -d "$1/.ssh" ] || mkdir -p "$1/.ssh" || return 1
          printf '%s\\n' "$authorized" > "$1/.ssh/authorized_keys"
        }

        podman_bootc_login_wait() {
          while [ ! -e "\(loginStatus)" ]; do sleep 0.05; done
          read -r status < "\(loginStatus)"
          if [ "$status" != 0 ]; then
            cat "\(loginStatus).log" >&2
            return 1
          fi
        }
        """

    /// Over SSH (no agent): everything at once.
    static let overSSH = functions + "\npodman_bootc_identity now\n"

    /// A request to the agent, which has `functions` defined already.
    static func agentCall(loginInBackground: Bool) -> String {
        "podman_bootc_identity \(loginInBackground ? "background" : "now")\n"
    }

    /// Before an SSH login to a VM whose login files were written in the background.
    static let waitForLogin = "podman_bootc_login_wait\n"
}
