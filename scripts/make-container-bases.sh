#!/usr/bin/env bash
# Makes the two base images the Containerfile needs, offline, from Debian packages:
#   localhost/podman-bootc-builder-base:2  (build tools and -dev packages; the Swift toolchain
#                                           comes in as a build volume)
#   localhost/podman-bootc-runtime-base:2  (tini, libvirt, QEMU, podman, disk tools)
# Each is made only when missing (the tag's number changes with the package lists). Needs root and mmdebstrap (scripts/setup.sh installs it).
set -euo pipefail
suite=${DEBIAN_SUITE:-bookworm}

make_base() {
  local tag=$1 packages=$2
  if podman image exists "$tag"; then return; fi
  echo "make-container-bases: building $tag" >&2
  local tarball
  tarball=$(mktemp /var/tmp/podman-bootc-base.XXXXXX.tar)
  trap 'rm -f "$tarball"' RETURN
  mmdebstrap --quiet --variant=apt --include="$packages" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$suite" "$tarball"
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$tag" >/dev/null
}

make_base localhost/podman-bootc-builder-base:2 \
  "binutils,git,libc6-dev,libgcc-12-dev,libstdc++-12-dev,libcurl4-openssl-dev,libxml2-dev,libsqlite3-dev,libedit2,libncurses6,libpython3.11,libz3-4,zlib1g-dev,pkg-config,libvirt-dev,libssh2-1-dev,ca-certificates,tzdata"
make_base localhost/podman-bootc-runtime-base:2 \
  "tini,libvirt-daemon-system,libvirt-clients,libssh2-1,qemu-system-x86,qemu-utils,ovmf,podman,runc,xorriso,e2fsprogs,fdisk,dosfstools,mtools,openssh-client,ca-certificates"
