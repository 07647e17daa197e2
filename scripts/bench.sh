#!/usr/bin/env bash
# Boot benchmark: wall time of `podman-bootc run --rm IMAGE -- true` (image resolved, disk
# cached after the first run, VM booted, SSH command run, VM removed), N runs, median.
# Usage: scripts/bench.sh [-n RUNS] [IMAGE]   (root; make image first)
set -euo pipefail
runs=3
while getopts n: opt; do case $opt in n) runs=$OPTARG ;; *) exit 64 ;; esac; done
shift $((OPTIND - 1))
image=${1:-localhost/podman-bootc-test:debian}
bin=${PODMAN_BOOTC_BIN:-$(dirname "$0")/../.build/release/podman-bootc}
[ -x "$bin" ] || { echo "bench: build first (make release), or set PODMAN_BOOTC_BIN" >&2; exit 1; }

# Warm the disk cache so runs measure boot, not install.
"$bin" run --rm --quiet "$image" -- true
times=()
for i in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  "$bin" run --rm --quiet "$image" -- true
  end=$(date +%s.%N)
  t=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')
  times+=("$t")
  echo "bench: run $i: ${t}s" >&2
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "run --rm $image -- true: median ${median}s over $runs runs (accel: ${PODMAN_BOOTC_ACCEL:-auto})"
