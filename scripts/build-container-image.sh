#!/usr/bin/env bash
# Builds podman-bootc's container image (localhost/podman-bootc:latest) offline: the bases
# from scripts/make-container-bases.sh, the Swift toolchain of this machine and its package
# sources as read-only build volumes. On a connected machine `podman build -t podman-bootc .`
# does the same from the public bases.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-localhost/podman-bootc:latest}
swift_bin=$(command -v swift) || { echo "build-container-image: no swift on PATH (needed as the build toolchain)" >&2; exit 1; }
toolchain=$(cd "$(dirname "$(readlink -f "$swift_bin")")/../.." && pwd)   # .../usr/bin/swift -> toolchain root

"$here/scripts/make-container-bases.sh"

volumes=(-v "$toolchain:/opt/swift:ro")
# Where this machine keeps Swift package sources (git's url.insteadOf), the build sees too.
while read -r _ source; do
  [ -d "$source" ] && volumes+=(-v "$source:$source:ro")
done < <(git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null | sed -E 's/^url\.(.*)\.insteadof .*/x \1/' | sort -u)
[ -f /etc/gitconfig ] && volumes+=(-v /etc/gitconfig:/etc/gitconfig:ro)

podman build "${volumes[@]}" \
  --build-arg BUILDER_IMAGE=localhost/podman-bootc-builder-base:2 \
  --build-arg RUNTIME_IMAGE=localhost/podman-bootc-runtime-base:2 \
  -t "$tag" "$here"
