#!/usr/bin/env bash
# Builds the embedded default test image localhost/podman-bootc-test:debian from Debian packages:
# mmdebstrap -> podman import (base) -> podman build of images/debian/Containerfile.
# Skips the build when the image's invariance label already matches its inputs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
image=${DEMO_IMAGE:-localhost/podman-bootc-test:debian}
base=localhost/podman-bootc-base:debian
suite=${DEMO_SUITE:-bookworm}
case "$(uname -m)" in
  x86_64) kernel=linux-image-amd64 ;;
  aarch64) kernel=linux-image-arm64 ;;
  *) echo "build-demo-image: no Debian kernel package known for $(uname -m)" >&2; exit 1 ;;
esac
# qemu-guest-agent: `--network none` (no network card) runs commands through it.
packages=systemd,systemd-sysv,udev,dbus,$kernel,openssh-server,iproute2,kmod,netbase,qemu-guest-agent

if [ "$(id -u)" -ne 0 ]; then
  echo "build-demo-image: run as root (the image goes into rootful podman storage): sudo $0" >&2
  exit 1
fi

# The inputs that define the image; any change rebuilds it.
hash=$( { echo "$suite $packages"; cat "$0"; cd "$here/images/debian" && find . -type f | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -d' ' -f1)
current=$(podman image inspect --format '{{ index .Labels "io.0xmax42.invariance-hash" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
  echo "build-demo-image: $image is up to date" >&2
  exit 0
fi

base_hash=$(echo "$suite $packages" | sha256sum | cut -d' ' -f1)
if [ "$(podman image inspect --format '{{ index .Labels "io.0xmax42.invariance-hash" }}' "$base" 2>/dev/null || true)" != "$base_hash" ]; then
  work=$(mktemp -d /var/tmp/podman-bootc-demo.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "build-demo-image: mmdebstrap $suite with $packages (about 1-2 minutes)" >&2
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    "$suite" "$work/rootfs.tar"
  echo "build-demo-image: podman import" >&2
  podman import --quiet --change "LABEL io.0xmax42.invariance-hash=$base_hash" "$work/rootfs.tar" "$base" >/dev/null
fi
echo "build-demo-image: podman build $image" >&2
podman build --quiet --build-arg "BASE_IMAGE=$base" --label "io.0xmax42.invariance-hash=$hash" \
  -t "$image" "$here/images/debian" >/dev/null
echo "build-demo-image: built $image" >&2
