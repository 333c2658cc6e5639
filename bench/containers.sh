#!/usr/bin/env bash
# Benchmark: container start-up and footprint. Medians of RUNS for
# `run --rm busybox true` (CLI to exit), create+start, stop of a process that
# handles SIGTERM; the wall time of 100 containers started concurrently; the
# daemon's RSS and each shim's RSS/PSS with 100 `sleep` containers. With
# docker.io installed, dockerd's figures (own data root and socket) beside.
# Usage: bench/containers.sh [RUNS]   (as root; builds berth in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
N=${N:-100}
cargo build --release -q -p berth
BERTH=$PWD/target/release/berth
work=$(mktemp -d /var/tmp/berth-cbench.XXXXXX)
pids=()
cleanup() {
  for cli in "$BERTH -H unix://$work/berth/sock" "docker -H unix://$work/docker/sock"; do
    ids=$($cli ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && $cli rm -f $ids >/dev/null 2>&1 || true
  done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 2
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000:.1f}')" "$1" "$2"; }
now() { date +%s.%N; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

# bench_engine CLI... -> prints "run create_start stop concurrent_s daemon_rss_mb shim_rss_kb shim_pss_kb"
bench_engine() {
  local cli=("$@") runs=() cs=() stops=()
  for _ in $(seq 1 "$RUNS"); do
    t0=$(now); "${cli[@]}" run --rm --network none busybox true; t1=$(now); runs+=("$(ms "$t0" "$t1")")
    t0=$(now); id=$("${cli[@]}" create --network none busybox sleep 1000); "${cli[@]}" start "$id" >/dev/null; t1=$(now); cs+=("$(ms "$t0" "$t1")")
    "${cli[@]}" rm -f "$id" >/dev/null
    id=$("${cli[@]}" run -d --network none busybox sh -c 'trap "exit 0" TERM; while true; do sleep 0.05; done')
    sleep 0.2
    t0=$(now); "${cli[@]}" stop "$id" >/dev/null; t1=$(now); stops+=("$(ms "$t0" "$t1")")
    "${cli[@]}" rm -f "$id" >/dev/null
  done
  t0=$(now)
  seq 1 "$N" | xargs -P "$N" -I{} "${cli[@]}" run -d --network none busybox sleep 1000 >/dev/null
  t1=$(now)
  local conc
  conc=$(python3 -c "print(f'{$t1-$t0:.2f}')")
  sleep 2
  echo "$(printf '%s\n' "${runs[@]}" | median) $(printf '%s\n' "${cs[@]}" | median) $(printf '%s\n' "${stops[@]}" | median) $conc"
}

mkdir -p "$work/berth"; echo '{}' > "$work/berth/daemon.json"
"$BERTH" daemon --data-root "$work/berth/data" --exec-root "$work/berth/run" -H "unix://$work/berth/sock" \
  --pidfile "$work/berth/pid" --config-file "$work/berth/daemon.json" 2>"$work/berth/log" &
bpid=$!; pids+=("$bpid")
for _ in $(seq 1 100); do [ -S "$work/berth/sock" ] && break; sleep 0.05; done
B=("$BERTH" -H "unix://$work/berth/sock")
scripts/busybox-rootfs.sh | "${B[@]}" import -c 'CMD ["sh"]' - busybox:latest >/dev/null
sleep 1
b_idle=$(rss_kb "$bpid")
read -r b_run b_cs b_stop b_conc < <(bench_engine "${B[@]}")
b_rss=$(rss_kb "$bpid")
shims=$(pgrep -f "exe shim --id" || true)
b_shim_rss=$(for p in $shims; do rss_kb "$p"; done | median)
b_shim_pss=$(for p in $shims; do pss_kb "$p"; done | median)

d_run=- d_cs=- d_stop=- d_conc=- d_idle=- d_rss=- d_shim_rss=- d_shim_pss=-
if command -v dockerd >/dev/null; then
  mkdir -p "$work/docker"; echo '{}' > "$work/docker/daemon.json"
  dockerd --data-root "$work/docker/data" --exec-root "$work/docker/run" -H "unix://$work/docker/sock" \
    --pidfile "$work/docker/pid" --bridge none --iptables=false --ip6tables=false \
    --config-file "$work/docker/daemon.json" >"$work/docker/log" 2>&1 &
  dpid=$!; pids+=("$dpid")
  for _ in $(seq 1 200); do [ -S "$work/docker/sock" ] && break; sleep 0.1; done
  D=(docker -H "unix://$work/docker/sock")
  "${B[@]}" save busybox:latest | "${D[@]}" load -q >/dev/null
  sleep 2
  ctd() { pgrep -f "containerd --config $work/docker" || pgrep -xf "containerd.*$work/docker.*" || true; }
  d_idle=$(( $(rss_kb "$dpid") + $(for p in $(ctd); do rss_kb "$p"; done | awk '{s+=$1} END {print s+0}') ))
  read -r d_run d_cs d_stop d_conc < <(bench_engine "${D[@]}")
  d_rss=$(( $(rss_kb "$dpid") + $(for p in $(ctd); do rss_kb "$p"; done | awk '{s+=$1} END {print s+0}') ))
  dshims=$(pgrep -f "containerd-shim.*$work/docker" || pgrep -f containerd-shim || true)
  d_shim_rss=$(for p in $dshims; do rss_kb "$p"; done | median)
  d_shim_pss=$(for p in $dshims; do pss_kb "$p"; done | median)
fi
mb() { [ "$1" = - ] && echo - || python3 -c "print(round($1/1024,1))"; }
printf '\nmedians of %s runs; %s concurrent containers; network none for both\n\n' "$RUNS" "$N"
printf '%-40s %12s %12s\n' figure berth docker
printf '%-40s %12s %12s\n' "run --rm busybox true (ms)" "$b_run" "$d_run"
printf '%-40s %12s %12s\n' "create + start (ms)" "$b_cs" "$d_cs"
printf '%-40s %12s %12s\n' "stop, TERM handled (ms)" "$b_stop" "$d_stop"
printf '%-40s %12s %12s\n' "$N containers started concurrently (s)" "$b_conc" "$d_conc"
printf '%-40s %12s %12s\n' "daemon RSS idle (MB)" "$(mb "$b_idle")" "$(mb "$d_idle")"
printf '%-40s %12s %12s\n' "daemon RSS with $N containers (MB)" "$(mb "$b_rss")" "$(mb "$d_rss")"
printf '%-40s %12s %12s\n' "per-container shim RSS (MB)" "$(mb "${b_shim_rss:-0}")" "$(mb "${d_shim_rss:--}")"
printf '%-40s %12s %12s\n' "per-container shim PSS (MB)" "$(mb "${b_shim_pss:-0}")" "$(mb "${d_shim_pss:--}")"
echo "exec latency (exec c true): bench/interactive.sh"
