#!/usr/bin/env bash
# podman-bootc benchmark, on this machine, median of N runs; prints a Markdown table.
#   1. `run --rm IMAGE -- true` restored from a saved running state (warm start, with where its
#      time goes, from the run's own JSON report), and booted for real from the cached disk
#      (--cold), vs the leanest plain-QEMU boot of the same disk, kernel and credential
#      (default machine, no default devices, only a virtio disk and network) polling SSH with
#      the OpenSSH client;
#   2. first run: install + boot (cache entry removed first; a disk's first boot saves no state);
#   3. install alone: the direct installer vs its `mkfs.ext4 -d` floor;
#   4. the edit -> SSH loop: change a file of a Containerfile folder built FROM IMAGE, then
#      `run --rm DIR -- cat` it (rebuild + reinstall + boot + SSH); and the same edit under
#      `dev`: from the save until the VM serves the new file (live), and until a kernel
#      argument change has rebooted the VM into a fresh install;
#   5. a host without udev: /dev/kvm set back to 0600 root (as such a host boots), one warm
#      start, then scripts/setup.sh and one more (once each; the mode is restored after);
#   6. rootless: a user (BENCH_USER, made if missing) runs the same image from its own
#      storage: first run (install in the user namespace + boot), then a warm start;
#   7. the other architecture (an arm64 guest on x86-64), emulated: a real boot from the
#      cached disk and a warm start (scripts/build-foreign-test-image.sh builds its image).
# Warm starts are timed WARM_RUNS times (default 5), the rest RUNS times. BENCH_QUICK=1 stops
# after 1 (about five minutes under TCG).
# Usage: sudo scripts/bench.sh [-n RUNS] [-w WARM_RUNS] [IMAGE]      (make image && make release first)
set -euo pipefail
# As in CI: no input. (A command fed from a pipe goes over SSH, not the guest agent: row 1d.)
exec </dev/null
runs=3 warm_runs=5
while getopts n:w: opt; do case $opt in n) runs=$OPTARG ;; w) warm_runs=$OPTARG ;; *) exit 64 ;; esac; done
shift $((OPTIND - 1))
image=${1:-localhost/podman-bootc-test:debian}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${PODMAN_BOOTC_BIN:-$here/.build/release/podman-bootc}
[ -x "$bin" ] || { echo "bench: build first (make release), or set PODMAN_BOOTC_BIN" >&2; exit 1; }
work=$(mktemp -d /var/tmp/podman-bootc-bench.XXXXXX)
qemu_pid= dev_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  # dev --rm removes its VM when interrupted.
  [ -n "$dev_pid" ] && { kill -INT "$dev_pid" 2>/dev/null; wait "$dev_pid" 2>/dev/null; }
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# One table row per stage of the warm runs' reports, in their order: the median seconds.
breakdown() {
  cut -f1 "$work/stages" | awk '!seen[$0]++' | while IFS= read -r stage; do
    # shellcheck disable=SC2046
    printf '| %s | %.2f |\n' "$stage" "$(median $(awk -F'\t' -v s="$stage" '$1 == s {print $2}' "$work/stages"))"
  done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# The same probe podman-bootc makes: KVM only with a vmx/svm CPU flag and a usable /dev/kvm.
accel=$([ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && echo kvm || echo tcg)
accel=${PODMAN_BOOTC_ACCEL:-$accel}
key=$("$bin" cache add --quiet "$image")
entry=/var/lib/podman-bootc/cache/$key

# 1a. podman-bootc, warm start: restored from the state `cache warm` saved.
"$bin" cache warm --quiet --accel "$accel" "$image" >/dev/null
restored=()
: > "$work/stages"
for i in $(seq 1 "$warm_runs"); do
  # --format json: the run's own report, with its stages (the breakdown below).
  t0=$(now); "$bin" run --rm --quiet --format json --accel "$accel" "$image" -- true > "$work/report.json"; restored+=("$(elapsed "$t0")")
  jq -r '.stages[] | "\(.name)\t\(.seconds)"' "$work/report.json" >> "$work/stages"
  jq -r --arg wall "${restored[-1]}" '"process start and exit (outside the report)\t\(($wall | tonumber) - .seconds)"' "$work/report.json" >> "$work/stages"
  echo "bench: warm start $i: ${restored[-1]}s" >&2
done

# 1d. The same with input on a pipe: the command goes over an SSH login instead of the agent.
t0=$(now); echo input | "$bin" run --rm --quiet --accel "$accel" "$image" -- cat >/dev/null; piped=$(elapsed "$t0")
echo "bench: warm start, command fed from a pipe: ${piped}s" >&2

# 5. No udev: libvirtd re-probes QEMU at every start while its QEMU user cannot open /dev/kvm.
stalled=- fixed=-
if [ -c /dev/kvm ] && getent group kvm >/dev/null; then
  saved=$(stat -c '%g %a' /dev/kvm)
  chgrp root /dev/kvm; chmod 0600 /dev/kvm
  t0=$(now); "$bin" run --rm --quiet --accel "$accel" "$image" -- true 2>/dev/null; stalled=$(elapsed "$t0")
  "$here/scripts/setup.sh" >/dev/null 2>&1
  t0=$(now); "$bin" run --rm --quiet --accel "$accel" "$image" -- true; fixed=$(elapsed "$t0")
  chgrp "${saved% *}" /dev/kvm; chmod "${saved#* }" /dev/kvm
  echo "bench: /dev/kvm 0600 root: ${stalled}s; after setup.sh: ${fixed}s" >&2
fi

# 1b. podman-bootc, cached disk, real boot.
warm=()
for i in $(seq 1 "$runs"); do
  t0=$(now); "$bin" run --rm --cold --quiet --accel "$accel" "$image" -- true; warm+=("$(elapsed "$t0")")
  echo "bench: cached-disk cold boot $i: ${warm[-1]}s" >&2
done

# 1c. Plain QEMU on the same disk, kernel and credential; SSH polled with OpenSSH.
ssh-keygen -q -t ed25519 -N '' -f "$work/id" -C bench
cred=$(printf 'd /root/.ssh 0700 root root -\nf+~ /root/.ssh/authorized_keys 0600 root root - %s\n' "$(base64 -w0 < "$work/id.pub")" | base64 -w0)
cmdline=$(jq -r '.artifacts.kernelArguments | join(" ")' "$entry/manifest.json")
initrd=$(jq -r '.artifacts.initrd // empty' "$entry/manifest.json")
# The leanest boot: QEMU's default machine, no default devices, only a virtio disk and network.
cpu=max; [ "$accel" = kvm ] && cpu=host
plain=()
for i in $(seq 1 "$runs"); do
  port=$(shuf -i 20000-60000 -n 1)
  qemu-img create -q -f qcow2 -F raw -b "$entry/disk.raw" "$work/overlay.qcow2"
  t0=$(now)
  qemu-system-x86_64 -machine accel="$accel" -nodefaults -display none -cpu "$cpu" -smp 2 -m 2048 \
    -kernel "$entry/vmlinuz" ${initrd:+-initrd "$initrd"} -append "$cmdline quiet" \
    -drive file="$work/overlay.qcow2",if=virtio,format=qcow2 \
    -netdev user,id=n0,hostfwd=tcp:127.0.0.1:"$port"-:22 -device virtio-net-pci,netdev=n0 \
    -smbios type=11,value=io.systemd.credential.binary:tmpfiles.extra="$cred" &
  qemu_pid=$!
  until ssh -q -i "$work/id" -p "$port" -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null root@127.0.0.1 true 2>/dev/null; do sleep 0.5; done
  plain+=("$(elapsed "$t0")")
  kill "$qemu_pid"; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=
  rm -f "$work/overlay.qcow2"
  echo "bench: plain qemu run $i: ${plain[-1]}s" >&2
done

r=$(median "${restored[@]}") w=$(median "${warm[@]}") p=$(median "${plain[@]}")
if [ -n "${BENCH_QUICK:-}" ]; then
  # BENCH_QUICK=1: the boot rows only (warm start and its breakdown, cold, the baseline).
  cat <<TABLE
| measurement ($image, $accel, median of $runs; warm starts of $warm_runs) | seconds | vs baseline |
| --- | ---: | ---: |
| warm start: \`run --rm IMAGE -- true\` restored from the saved state | $r | $(ratio "$p" "$r")x faster than plain QEMU |
| \`run --rm --cold IMAGE -- true\`: cached disk, real boot | $w | $(ratio "$w" "$p")x plain QEMU |
| plain QEMU (default machine, only a virtio disk and network) boot of the same disk to first SSH (baseline) | $p | 1.00x |

| warm start stage | seconds |
| --- | ---: |
$(breakdown)
TABLE
  exit 0
fi

# Cold measurements need the entry gone; prune keeps disks that VMs use.
uncache() {
  "$bin" cache prune >/dev/null 2>&1
  if [ -d "$entry" ]; then
    echo "bench: a VM uses the cached disk of $image; remove it (podman-bootc rm) and run again" >&2
    exit 1
  fi
}

# 2. Cold: install + boot.
cold=()
for i in $(seq 1 "$runs"); do
  uncache
  t0=$(now); "$bin" run --rm --quiet --accel "$accel" "$image" -- true; cold+=("$(elapsed "$t0")")
  echo "bench: cold run $i: ${cold[-1]}s" >&2
done

# 3. Install alone vs the mkfs.ext4 -d floor (same tree, same size, same offset).
install=() floor=()
size_k=$(( $(jq -r '.inputs.diskSize' "$entry/manifest.json") / 1024 - 2048 ))
for i in $(seq 1 "$runs"); do
  uncache
  t0=$(now); "$bin" cache add --quiet "$image" >/dev/null; install+=("$(elapsed "$t0")")
  tree=$(podman image mount "$image")
  truncate -s "$(( (size_k + 2048) * 1024 ))" "$work/floor.raw"
  t0=$(now); mkfs.ext4 -q -F -d "$tree" -E offset=1048576 "$work/floor.raw" "${size_k}k"; floor+=("$(elapsed "$t0")")
  podman image unmount "$image" >/dev/null; rm -f "$work/floor.raw"
  echo "bench: install $i: ${install[-1]}s (mkfs floor ${floor[-1]}s)" >&2
done

# 4. Edit -> SSH: each round changes one file; podman-bootc must rebuild, reinstall and boot.
loop=()
mkdir -p "$work/edit"
printf 'FROM %s\nCOPY stamp /etc/podman-bootc-bench-stamp\n' "$image" > "$work/edit/Containerfile"
for i in $(seq 1 "$runs"); do
  echo "edit $i $(now)" > "$work/edit/stamp"
  t0=$(now)
  out=$("$bin" run --rm --quiet --accel "$accel" "$work/edit" -- cat /etc/podman-bootc-bench-stamp)
  loop+=("$(elapsed "$t0")")
  [ "$out" = "$(cat "$work/edit/stamp")" ] || { echo "bench: the VM did not see the edit" >&2; exit 1; }
  echo "bench: edit -> SSH $i: ${loop[-1]}s" >&2
done

# 4b. The same edit under `dev`: live (a file), then a reboot into a fresh install (a kernel argument).
printf 'FROM %s\nCOPY stamp /etc/podman-bootc-bench-stamp\nCOPY kargs.toml /usr/lib/bootc/kargs.d/90-bench.toml\n' "$image" > "$work/edit/Containerfile"
printf 'kargs = ["podman_bootc_bench=0"]\n' > "$work/edit/kargs.toml"
"$bin" dev --rm --quiet --accel "$accel" --name podman-bootc-bench-dev "$work/edit" > "$work/dev.out" 2> "$work/dev.err" &
dev_pid=$!
stop_dev() { kill -INT "$dev_pid" 2>/dev/null; wait "$dev_pid" 2>/dev/null || true; dev_pid=; }
until grep -q "is running" "$work/dev.out"; do
  kill -0 "$dev_pid" 2>/dev/null || { cat "$work/dev.err" >&2; echo "bench: dev did not start" >&2; exit 1; }
  sleep 0.5
done
in_dev() { "$bin" ssh podman-bootc-bench-dev -- "$@" 2>/dev/null; }
live=() reboot=()
for i in $(seq 1 "$runs"); do
  echo "dev edit $i $(now)" > "$work/edit/stamp"
  t0=$(now)
  until [ "$(in_dev cat /etc/podman-bootc-bench-stamp)" = "$(cat "$work/edit/stamp")" ]; do sleep 0.2; done
  live+=("$(elapsed "$t0")")
  echo "bench: dev edit -> live in the VM $i: ${live[-1]}s" >&2
done
for i in $(seq 1 "$runs"); do
  edits=$(grep -c '^edit ' "$work/dev.out" || true)
  printf 'kargs = ["podman_bootc_bench=%s"]\n' "$i" > "$work/edit/kargs.toml"
  t0=$(now)
  until [ "$(grep -c '^edit ' "$work/dev.out" || true)" -gt "$edits" ]; do sleep 0.2; done
  until in_dev cat /proc/cmdline | grep -q "podman_bootc_bench=$i"; do sleep 0.2; done
  reboot+=("$(elapsed "$t0")")
  echo "bench: dev kernel argument -> rebooted VM $i: ${reboot[-1]}s" >&2
done
stop_dev
podman rmi -f "localhost/edit:latest" >/dev/null 2>&1 || true
"$bin" cache prune >/dev/null 2>&1 || true

# 6. Rootless: the user's own storage, session libvirt, cache under ~/.cache.
user=${BENCH_USER:-podman-bootc-bench}
id "$user" >/dev/null 2>&1 || useradd -m "$user"
home=$(getent passwd "$user" | cut -d: -f6)
chmod 755 "$work"; cp "$bin" "$work/podman-bootc"; chmod 755 "$work/podman-bootc"
as_user() { runuser -u "$user" -- env -i -C / HOME="$home" USER="$user" PATH=/usr/local/bin:/usr/bin:/bin "$@"; }
if ! as_user podman image exists "$image" 2>/dev/null; then
  podman save -q -o "$work/image.tar" "$image"; chmod 644 "$work/image.tar"
  as_user podman load -q -i "$work/image.tar" >/dev/null; rm -f "$work/image.tar"
fi
rootless_cold=() rootless_warm=()
for i in $(seq 1 "$runs"); do
  as_user "$work/podman-bootc" cache prune >/dev/null 2>&1 || true
  t0=$(now); as_user "$work/podman-bootc" run --rm --quiet --accel "$accel" "$image" -- true; rootless_cold+=("$(elapsed "$t0")")
  as_user "$work/podman-bootc" cache warm --quiet --accel "$accel" "$image" >/dev/null
  t0=$(now); as_user "$work/podman-bootc" run --rm --quiet --accel "$accel" "$image" -- true; rootless_warm+=("$(elapsed "$t0")")
  echo "bench: rootless first run $i: ${rootless_cold[-1]}s, warm start: ${rootless_warm[-1]}s" >&2
done
as_user "$work/podman-bootc" cache prune >/dev/null 2>&1 || true

# 7. The other architecture: TCG whatever the host offers (KVM runs only the host's own).
foreign=$([ "$(uname -m)" = x86_64 ] && echo aarch64 || echo x86_64)
foreign_image=localhost/podman-bootc-test:debian-$([ "$foreign" = aarch64 ] && echo arm64 || echo amd64)
"$here/scripts/build-foreign-test-image.sh" "$foreign" 2>/dev/null
"$bin" cache warm --quiet "$foreign_image" >/dev/null
foreign_cold=() foreign_warm=()
for i in $(seq 1 "$runs"); do
  t0=$(now); "$bin" run --rm --quiet --cold "$foreign_image" -- true; foreign_cold+=("$(elapsed "$t0")")
  t0=$(now); "$bin" run --rm --quiet "$foreign_image" -- true; foreign_warm+=("$(elapsed "$t0")")
  echo "bench: $foreign real boot $i: ${foreign_cold[-1]}s, warm start: ${foreign_warm[-1]}s" >&2
done
fc=$(median "${foreign_cold[@]}") fw=$(median "${foreign_warm[@]}")

rw=$(median "${rootless_warm[@]}") rc=$(median "${rootless_cold[@]}")
dl=$(median "${live[@]}") dr=$(median "${reboot[@]}")
r=$(median "${restored[@]}") w=$(median "${warm[@]}") p=$(median "${plain[@]}") c=$(median "${cold[@]}") n=$(median "${install[@]}") f=$(median "${floor[@]}") l=$(median "${loop[@]}")
cat <<TABLE
| measurement ($image, $accel, median of $runs; warm starts of $warm_runs) | seconds | vs baseline |
| --- | ---: | ---: |
| warm start: \`run --rm IMAGE -- true\` restored from the saved state | $r | $(ratio "$p" "$r")x faster than plain QEMU |
| warm start, command fed from a pipe (over an SSH login), once | $piped | $(ratio "$p" "$piped")x faster than plain QEMU |
| \`run --rm --cold IMAGE -- true\`: cached disk, real boot | $w | $(ratio "$w" "$p")x plain QEMU |
| plain QEMU (default machine, only a virtio disk and network) boot of the same disk to first SSH (baseline) | $p | 1.00x |
| first run: install + boot | $c | $(ratio "$c" "$p")x plain QEMU |
| install alone (direct installer) | $n | $(ratio "$n" "$f")x mkfs floor |
| \`mkfs.ext4 -d\` of the same tree (floor) | $f | 1.00x |
| edit -> SSH loop with \`run\` (Containerfile folder: rebuild + reinstall + boot) | $l | $(ratio "$l" "$p")x plain QEMU |
| \`dev\`: edit of a file -> served by the running VM (rebuild + compare + SFTP) | $dl | $(ratio "$dl" "$p")x plain QEMU |
| \`dev\`: kernel argument edit -> VM rebooted into a fresh install | $dr | $(ratio "$dr" "$p")x plain QEMU |
| rootless warm start (user's storage, qemu:///session) | $rw | $(ratio "$rw" "$p")x plain QEMU |
| rootless first run: install in the user namespace + boot | $rc | $(ratio "$rc" "$p")x plain QEMU |
| $foreign guest, emulated (its own test image): \`run --rm --cold\`, cached disk, real boot | $fc | |
| $foreign guest, emulated (its own test image): warm start | $fw | |
| warm start on a host without udev (/dev/kvm 0600 root), once | $stalled | |
| the same host after \`scripts/setup.sh\` (/dev/kvm root:kvm 0660), once | $fixed | |

Where a warm \`run --rm IMAGE -- true\` spends its time (median of each stage over the $warm_runs runs):

| stage | seconds |
| --- | ---: |
$(breakdown)

Machine: $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), QEMU $(qemu-system-x86_64 --version | awk 'NR==1 {print $4}'), $(date -u +%Y-%m-%d).
TABLE
