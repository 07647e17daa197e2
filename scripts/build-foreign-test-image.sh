#!/usr/bin/env bash
# Builds a test image for another architecture than this host's (e.g. arm64 on x86-64):
# localhost/podman-bootc-test:debian-<arch>, a minimal Debian with systemd, a kernel and sshd.
#
# Nothing of the image runs on this host: emulating a whole Debian install (maintainer scripts
# under qemu-user) took 22 minutes here. Instead mmdebstrap only extracts the packages, and this
# script does on the host, with the host's tools, the little their maintainer scripts would have
# done that booting needs: users (base-passwd's tables, systemd-sysusers --root), enabled units
# (systemctl --root), sshd's config, the module index (depmod -b) and a small busybox initramfs
# (images/debian-foreign/init). About 1 minute; skipped when its inputs did not change.
#
# Usage: build-foreign-test-image.sh ARCH   (aarch64|arm64|x86_64|amd64)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
  aarch64|arm64) debarch=arm64 ;;
  x86_64|amd64) debarch=amd64 ;;
  *) echo "usage: $0 aarch64|x86_64" >&2; exit 64 ;;
esac
image=${FOREIGN_IMAGE:-localhost/podman-bootc-test:debian-$debarch}
suite=${DEMO_SUITE:-bookworm}
packages=base-files,base-passwd,bash,coreutils,dash,diffutils,findutils,grep,gzip,hostname,libc-bin,login,sed,tar
packages+=,util-linux,mount,systemd,systemd-sysv,udev,dbus,linux-image-$debarch,openssh-server,iproute2,kmod,netbase
# systemd-boot-efi: `export` makes the disk UEFI-bootable with the image's own systemd-boot.
packages+=,qemu-guest-agent,busybox-static,systemd-boot-efi
# The initramfs loads these (and what they depend on) to reach the root disk.
initramfs_modules="virtio_pci virtio_blk ext4"

if [ "$(id -u)" -ne 0 ]; then
  echo "build-foreign-test-image: run as root (the image goes into rootful podman storage): sudo $0 $*" >&2
  exit 1
fi
for tool in mmdebstrap depmod systemd-sysusers systemctl cpio; do
  command -v "$tool" >/dev/null || { echo "build-foreign-test-image: $tool is missing; run scripts/setup.sh" >&2; exit 1; }
done

hash=$( { echo "$suite $debarch $packages $initramfs_modules"; cat "$0";
          cd "$here/images" && find debian-foreign debian/ssh-host-keys.service debian/20-wired.network -type f | LC_ALL=C sort | xargs sha256sum; } \
        | sha256sum | cut -d' ' -f1)
current=$(podman image inspect --format '{{ index .Labels "io.0xmax42.invariance-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
  echo "build-foreign-test-image: $image is up to date" >&2
  exit 0
fi

work=$(mktemp -d /var/tmp/podman-bootc-foreign.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
echo "build-foreign-test-image: extracting $suite $debarch packages (no maintainer scripts)" >&2
mmdebstrap --quiet --variant=extract --architectures="$debarch" --include="$packages" "$suite" "$root"

# Users and groups: base-passwd's tables, then every sysusers.d entry of the packages, and
# sshd's privilege separation user (openssh-server's postinst makes it with adduser).
cp "$root/usr/share/base-passwd/passwd.master" "$root/etc/passwd"
cp "$root/usr/share/base-passwd/group.master" "$root/etc/group"
: > "$root/etc/shadow"; : > "$root/etc/gshadow"
chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
systemd-sysusers --root="$root" >/dev/null
printf 'u sshd - "sshd privilege separation" /run/sshd /usr/sbin/nologin\n' | systemd-sysusers --root="$root" - >/dev/null

# sshd: the packaged default config, host keys come from podman-bootc's credentials (or first boot).
# No PAM: its common-* files are written by a maintainer script (pam-auth-update); key login needs none.
cp "$root/usr/share/openssh/sshd_config" "$root/etc/ssh/sshd_config"
mkdir -p "$root/etc/ssh/sshd_config.d"
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nUsePAM no\n' > "$root/etc/ssh/sshd_config.d/10-podman-bootc.conf"
install -m 0644 "$here/images/debian/ssh-host-keys.service" "$root/etc/systemd/system/ssh-host-keys.service"
install -D -m 0644 "$here/images/debian/20-wired.network" "$root/etc/systemd/network/20-wired.network"
# systemd only: without SysV scripts systemctl does not try to run update-rc.d (foreign) in a chroot.
rm -f "$root"/etc/init.d/*
if ! enabled=$(systemctl --root="$root" enable systemd-networkd.service ssh.service ssh-host-keys.service 2>&1); then
  echo "$enabled" >&2
  echo "build-foreign-test-image: systemctl --root enable failed: the image would boot without sshd" >&2
  exit 1
fi
printf 'LABEL=root / ext4 defaults 0 1\n' > "$root/etc/fstab"
: > "$root/etc/machine-id"  # made on each VM's first boot

# The kernel: its module index, and an initramfs of busybox and the root disk's modules.
version=$(basename "$(ls -d "$root"/lib/modules/* | head -n1)")
depmod -b "$root" "$version"
initramfs=$work/initramfs
mkdir -p "$initramfs/bin"
cp "$root/bin/busybox" "$initramfs/bin/busybox"
install -m 0755 "$here/images/debian-foreign/init" "$initramfs/init"
# modprobe --show-depends (one module per call) prints `insmod PATH` lines in load order, without loading anything.
for module in $initramfs_modules; do
  modprobe --dirname="$root" --set-version="$version" --show-depends "$module"
done | awk -v root="$root" '$1 == "insmod" { path = substr($2, length(root) + 1); if (!seen[path]++) print path }' > "$work/modules"
while read -r module; do
  install -D -m 0644 "$root$module" "$initramfs$module"
done < "$work/modules"
cp "$work/modules" "$initramfs/modules"
(cd "$initramfs" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$root/boot/initrd.img-$version"
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*_Packages

echo "build-foreign-test-image: podman import $image" >&2
tar -C "$root" --numeric-owner -cf - . \
  | podman import --quiet --arch "$debarch" --change 'CMD ["/sbin/init"]' \
      --change "LABEL io.0xmax42.invariance-hash=$hash" - "$image" >/dev/null
echo "build-foreign-test-image: built $image" >&2
