#!/usr/bin/env bash
# Installs what podman-bootc needs on Debian/Ubuntu and starts the services it talks to.
# Idempotent: run it as often as you like. Needs root (apt, libvirtd, rootful podman).
set -euo pipefail

packages=(
  podman runc qemu-system-x86 qemu-utils
  libvirt-daemon-system libvirt-clients libvirt-dev libssh2-1-dev pkg-config
  mmdebstrap e2fsprogs fdisk xorriso dosfstools mtools ovmf tmux openssh-client procps jq
  tini  # reaps QEMU processes where PID 1 does not (see below)
  openssh-server  # the remote-libvirt tests reach a second libvirtd through sshd on 127.0.0.1
  systemd-boot-efi  # `export` makes direct-installed disks bootable with systemd-boot
  policycoreutils selinux-utils  # setfiles, matchpathcon: the direct installer labels SELinux images
  swtpm swtpm-tools  # --tpm: an emulated TPM 2.0 for libvirt
  uidmap  # rootless podman of the user behind sudo (images are copied from there)
  python3-junitparser  # the tests read run --report with a real JUnit consumer
  # Both architectures' guests on either host (the other one under emulation, TCG).
  qemu-system-arm qemu-efi-aarch64
  kmod cpio  # scripts/build-foreign-test-image.sh: module index and initramfs, made on the host
)

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/setup.sh must run as root: it installs packages (${packages[*]})," >&2
  echo "configures rootful podman and starts libvirtd. Run: sudo $0" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rootful podman: crun fails where cgroups are v1-hybrid and root lacks CAP_SYS_RESOURCE,
# so use runc and ulimits within the real hard limits (read, never assumed).
conf=/etc/containers/containers.conf.d/50-podman-bootc.conf
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=32768
[ "$nproc" -gt 32768 ] && nproc=32768
want=$(cat <<CONF
# Written by podman-bootc scripts/setup.sh
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
)
if [ ! -d /run/systemd/system ] && { [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; }; then
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" > "$conf"
fi

# /dev/kvm: without udev (containers, CI runners, hosts whose PID 1 is not systemd) the device
# stays 0600 root and libvirtd re-probes QEMU at every VM start (about a minute each). Apply
# what Debian's udev rule would (GROUP="kvm", MODE="0660"); scripts/kvm-permissions.sh says so.
"$(dirname "$0")/kvm-permissions.sh"

# libvirt: through systemd when it runs, else start the daemons ourselves.
if [ -d /run/systemd/system ]; then
  systemctl start virtlogd.socket libvirtd.socket libvirtd.service >/dev/null 2>&1 || true
else
  # Started with a service's clean environment, as systemd would: libvirtd hands TMPDIR, HOME
  # and PATH on to its helpers, and swtpm_setup (run as tss) fails to create its certificates
  # under a caller's private TMPDIR (seen in CI: every --tpm VM refused to start).
  service_env=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8)
  # Root's daemons only: a user's session daemons (qemu:///session) have the same names.
  pgrep -u 0 -x virtlogd >/dev/null || "${service_env[@]}" virtlogd -d
  # libvirtd's QEMU processes are orphans; here PID 1 may reap them late (measured: ~1.7 s
  # on these machines), and libvirtd waits for that after every VM stop, blocking its other
  # calls meanwhile. Under tini as subreaper they are reaped at once. `setsid -f` detaches it
  # fully: no shell of ours stays behind holding the caller's output open.
  if ! pgrep -u 0 -x libvirtd >/dev/null; then
    if command -v tini >/dev/null; then
      "${service_env[@]}" setsid -f tini -s -- libvirtd </dev/null >/dev/null 2>&1
    else
      "${service_env[@]}" libvirtd -d
    fi
  fi
fi
# libvirtd listens before its drivers are loaded (and a dead daemon leaves its socket behind):
# wait until it answers, not until the socket exists.
ready=false
for _ in $(seq 1 150); do
  if virsh -c qemu:///system version >/dev/null 2>&1; then ready=true; break; fi
  sleep 0.2
done
if [ "$ready" != true ]; then
  echo "setup: libvirtd does not answer on qemu:///system after 30 s" >&2
  virsh -c qemu:///system version >&2 || true
  exit 1
fi
echo "setup: ready (podman $(podman version --format '{{.Client.Version}}'), libvirt $(virsh -c qemu:///system version --daemon | awk '/daemon/ {print $NF}'))" >&2
