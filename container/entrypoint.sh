#!/bin/sh
# Entry point of podman-bootc's container: start libvirt, clean what a killed container left,
# then run podman-bootc with the arguments given (a shell without any).
set -eu

if ! grep -qs " /cache " /proc/self/mountinfo; then
  echo "warning: /cache is not a volume: installed disks, VMs and keys go with this container (add -v podman-bootc:/cache)" >&2
fi
mkdir -p /cache /run/libvirt /var/log/libvirt /var/lib/libvirt/qemu

# A container killed mid-run and started again leaves pid files and sockets in /run; the
# folders of its --rm VMs in /cache are swept by podman-bootc itself (their owner is gone).
rm -f /run/libvirtd.pid /run/virtlogd.pid /run/libvirt/libvirt-sock* /run/libvirt/virtlogd-sock 2>/dev/null || true
# No udev in a container: /dev/kvm arrives as the host had it (often 0600 root).
/usr/share/podman-bootc/kvm-permissions.sh || true
virtlogd -d
libvirtd -d
i=0
while [ ! -S /run/libvirt/libvirt-sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

if [ $# -eq 0 ]; then
  echo "podman-bootc $(podman-bootc --version) is ready; try: podman-bootc run --rm /image -- uname -a" >&2
  exec /bin/bash
fi
exec podman-bootc "$@"
