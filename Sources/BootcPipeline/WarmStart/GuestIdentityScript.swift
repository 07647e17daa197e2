// The script that gives a guest restored from a saved state (or the template that saved it)
// its own identity: fresh randomness, hostname and clock, for a kept VM its own machine-id,
// then the login files (host key, authorized key, credentials) and an sshd listener
// re-executed with them. Fixed text run as root; every value travels on stdin, none is put
// into the text. Shell builtins wherever they do: under emulation every program started costs
// ~0.15 s and the first disk access after a restore more.

import BootcCore

enum GuestIdentityScript {
    /// Where a background login step reports (in the agent's private folder).
    static let loginStatus = "/run/podman-bootc-agent/login.status"
    /// A background clock step: started (pending), its exit status through a pipe the agent
    /// made, and that status once read.
    static let clockPending = "/run/podman-bootc-agent/clock.pending"
    static let clockPipe = "/run/podman-bootc-agent/clock.pipe"
    static let clockStatus = "/run/podman-bootc-agent/clock.status"

    /// Shell functions. `podman_bootc_identity now|background` reads stdin: line 1 hostname,
    /// 2 epoch seconds, 3 login user, 4 authorized key, 5 host public key, 6 a machine-id (32
    /// hex digits) or "-" to keep it, 7 "kept" or "transient" (the VM outlives the run), 8 random hex
    /// digits from the host, 9 a count N, then N lines "credential base64", then the host
    /// private key to the end.
    static let functions = """
        podman_bootc_identity() {
          set -eu
          read -r name; read -r epoch
          # Setting the clock starts a program (~0.15 s under emulation): with the agent it runs
          # while the rest is done and the command travels; the agent waits for it before the
          # command runs (podman_bootc_clock_wait).
          if [ "$1" = background ] && [ -p "\(clockPipe)" ]; then
            : > "\(clockPending)"
            (
              date -u -s "@$epoch" >/dev/null 2>&1
              echo "$?" > "\(clockPipe)"
            ) </dev/null >/dev/null 2>&1 &
          else
            date -u -s "@$epoch" >/dev/null 2>&1 || echo "warning: the guest clock was not set" >&2
          fi
          read -r user; read -r authorized; read -r hostpub
          read -r machineid; read -r lifetime; read -r entropy; read -r count
          # Mixed into the kernel's pool (no entropy credited): the generation ID reseeds it.
          printf '%s' "$entropy" > /dev/urandom || true
          if [ "$machineid" != - ]; then
            case "$machineid" in *[!0-9a-f]* | '') echo "invalid machine-id: $machineid" >&2; return 1 ;; esac
            [ "${#machineid}" -eq 32 ] || { echo "invalid machine-id: $machineid" >&2; return 1; }
            # systemd bind-mounts /run/machine-id read-only over it when /etc was read-only at boot.
            { printf '%s\\n' "$machineid" > /etc/machine-id; } 2>/dev/null \\
              || { [ -f /run/machine-id ] && printf '%s\\n' "$machineid" > /run/machine-id; } \\
              || { echo "cannot write /etc/machine-id" >&2; return 1; }
            # journald names its files by the machine-id it read at start (journalctl shows
            # the current machine's only): restarted in the background.
            (systemctl restart systemd-journald.service) </dev/null >/dev/null 2>&1 &
          fi
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
          podman_bootc_credentials || return 1
          # OpenSSH 9.8 and later hand the listener's host key to each session: every clone's
          # listener is re-executed with its own key.
          podman_bootc_restart_sshd || return 1
        }

        # The template's credentials, still in this boot's credentials, become this VM's own
        # (a service that reads them again must not find the template's).
        podman_bootc_credentials() {
          creds=/run/credentials/@system
          [ -f "$creds/\(SystemdCredentials.hostKeyName)" ] || return 0
          remounted=no
          if mount -o remount,rw "$creds" 2>/dev/null; then remounted=yes; fi
          printf '%s' "$hostkey" > "$creds/\(SystemdCredentials.hostKeyName)" || return 1
          printf '%s' "$credentials" | while read -r cname cvalue; do
            if [ -n "$cname" ] && [ -f "$creds/$cname" ]; then printf '%s' "$cvalue" | base64 -d > "$creds/$cname" || exit 1; fi
          done || return 1
          if [ "$remounted" = yes ]; then mount -o remount,ro "$creds" || true; fi
        }

        # The inode of sshd's IPv4 listening socket on port 22.
        podman_bootc_sshd_socket() {
          while read -r _ local _ state _ _ _ _ _ inode _; do
            case "$local $state" in *:0016\\ 0A) echo "$inode"; return 0 ;; esac
          done < /proc/net/tcp
          return 1
        }

        # sshd's listener, started in the template, re-executes itself (SIGHUP): a new process
        # image with this VM's host key and randomness. Waits until it listens again (a new
        # socket; one systemd holds for it stays the same, so after a while any listener does).
        # No pid file: no listener of its own (socket activation per connection), nothing to do.
        podman_bootc_restart_sshd() {
          pid=
          { read -r pid < /run/sshd.pid || read -r pid < /var/run/sshd.pid; } 2>/dev/null || return 0
          old=$(podman_bootc_sshd_socket) || return 0
          kill -HUP "$pid" 2>/dev/null || return 0
          i=0
          while [ "$i" -lt 200 ]; do
            new=$(podman_bootc_sshd_socket) && { [ "$new" != "$old" ] || [ "$i" -ge 40 ]; } && return 0
            sleep 0.05
            i=$((i + 1))
          done
          echo "sshd did not listen again after it was restarted" >&2
          return 1
        }

        podman_bootc_authorize() {
          [ -d "$1/.ssh" ] || mkdir -p "$1/.ssh" || return 1
          printf '%s\\n' "$authorized" > "$1/.ssh/authorized_keys"
        }

        # Until the clock is set: blocked on the agent's pipe (no CPU taken from the guest), once.
        podman_bootc_clock_wait() {
          if [ ! -e "\(clockPending)" ] || [ -e "\(clockStatus)" ]; then return 0; fi
          clockset=
          read -r clockset < "\(clockPipe)" || true
          echo "${clockset:-?}" > "\(clockStatus)"
          [ "$clockset" = 0 ] || echo "warning: the guest clock was not set" >&2
        }

        podman_bootc_login_wait() {
          podman_bootc_clock_wait
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
