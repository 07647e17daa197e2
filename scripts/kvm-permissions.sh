#!/bin/sh
# Gives /dev/kvm the group and mode udev's rule would (root:kvm 0660) when no udev did:
# libvirt's QEMU user (in group kvm) must open it, or libvirtd re-probes QEMU's capabilities
# at every VM start (measured: about a minute per start). Idempotent; root only.
set -eu
device=${KVM_DEVICE:-/dev/kvm}
[ -c "$device" ] || exit 0
getent group kvm >/dev/null 2>&1 || exit 0
mode=$(stat -c %a "$device")
group=$(stat -c %G "$device")
others=$((0$mode & 6))
grouprw=$(((0$mode >> 3) & 6))
# Already usable by the kvm group or by everyone (some distributions' rules use 0666).
if [ "$others" -eq 6 ] || { [ "$group" = kvm ] && [ "$grouprw" -eq 6 ]; }; then exit 0; fi
before="$(stat -c %U "$device"):$group 0$mode"
# In a user namespace (a rootless container) the host's mode rules and cannot be changed:
# podman-bootc's own probe then falls back to emulation and says how to get KVM.
chgrp kvm "$device" 2>/dev/null || exit 0
chmod 0660 "$device"
echo "setup: $device was $before, which libvirt's QEMU user cannot open (no udev applied its rule); set it to root:kvm 0660 as udev would" >&2
