# Shared by the benchmarks: a release berth daemon and (when docker.io is
# installed) a dockerd, each on a private data root and socket, torn down
# on exit; medians and timers. Source it: `. bench/lib.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/build-release.sh -q
BERTH=$PWD/target/release/berth
work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
pids=()
bench_cleanup() {
  for cli in "$BERTH -H unix://$work/berth/sock" "docker -H unix://$work/docker/sock"; do
    # Bounded: a daemon that hangs on a removal (dockerd 20.10 was seen to)
    # must not keep the benchmark from ending; the kills below follow.
    ids=$(timeout 30 $cli ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && timeout 120 $cli rm -f $ids >/dev/null 2>&1 || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 2
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Timestamps from bash itself (no process started between the two ends of
# a measurement, nor between measurements): seconds with 6 decimals.
ms() {
  local a=${1/./} b=${2/./}
  local d=$((10#$b - 10#$a))
  printf '%d.%d\n' $((d / 1000)) $(((d % 1000) / 100))
}
now() { echo "$EPOCHREALTIME"; }

# start_berth -> sets B=(berth -H …) with busybox:latest imported
# (network devices prefixed BENCH_NET_PREFIX, default bb).
start_berth() {
  mkdir -p "$work/berth"; echo '{}' > "$work/berth/daemon.json"
  "$BERTH" daemon --data-root "$work/berth/data" --exec-root "$work/berth/run" -H "unix://$work/berth/sock" \
    --pidfile "$work/berth/pid" --config-file "$work/berth/daemon.json" --net-prefix "${BENCH_NET_PREFIX:-bb}" \
    --allowed-registry 127.0.0.1 "$@" 2>"${BERTH_LOG:-$work/berth/log}" &
  bpid=$!; pids+=("$bpid")
  for _ in $(seq 1 100); do [ -S "$work/berth/sock" ] && break; sleep 0.05; done
  B=("$BERTH" -H "unix://$work/berth/sock")
  scripts/busybox-rootfs.sh | "${B[@]}" import -c 'CMD ["sh"]' - busybox:latest >/dev/null
}

# start_docker -> sets D=(docker -H …) with the same busybox, or D=() without dockerd.
start_docker() {
  D=()
  command -v dockerd >/dev/null || return 0
  mkdir -p "$work/docker"; echo '{}' > "$work/docker/daemon.json"
  dockerd --data-root "$work/docker/data" --exec-root "$work/docker/run" -H "unix://$work/docker/sock" \
    --pidfile "$work/docker/pid" --config-file "$work/docker/daemon.json" "$@" >"$work/docker/log" 2>&1 &
  dpid=$!; pids+=("$dpid")
  for _ in $(seq 1 200); do [ -S "$work/docker/sock" ] && break; sleep 0.1; done
  D=(docker -H "unix://$work/docker/sock")
  "${B[@]}" save busybox:latest | "${D[@]}" load -q >/dev/null
}
