#!/usr/bin/env bash
# Benchmark: container start-up and footprint. Medians of RUNS for
# `run --rm busybox true` (CLI to exit), create+start, stop of a process that
# handles SIGTERM; the wall time of 100 containers started concurrently; the
# daemon's RSS and each shim's RSS/PSS with 100 `sleep` containers. With
# docker.io installed, dockerd's figures (own data root and socket) beside.
# Usage: bench/containers.sh [RUNS]   (as root; builds berth in release mode)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-20}
N=${N:-100}
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

start_berth
sleep 1
b_idle=$(rss_kb "$bpid")
read -r b_run b_cs b_stop b_conc < <(bench_engine "${B[@]}")
b_rss=$(rss_kb "$bpid")
# The shim of the next start, waiting (one per daemon, once it has started
# containers): the daemon's child, the monitor exec'd below it and the
# creator below that; their RSS and PSS summed.
standby=$(pgrep -f "shim --standby" -P "$bpid" | head -1)
standby_procs=""
if [ -n "$standby" ]; then
  for m in $(pgrep -P "$standby"); do standby_procs="$standby_procs $m $(pgrep -P "$m")"; done
  standby_procs="$standby $standby_procs"
fi
b_standby_rss=$(for p in $standby_procs; do rss_kb "$p"; done | awk '{s+=$1} END {print s+0}')
b_standby_pss=$(for p in $standby_procs; do pss_kb "$p"; done | awk '{s+=$1} END {print s+0}')
# Each container's monitor: the berth-shim processes but the waiting one.
shims=$(for p in $(pgrep -x berth-shim); do case " $standby_procs " in *" $p "*) ;; *) echo "$p" ;; esac; done)
b_shim_rss=$(for p in $shims; do rss_kb "$p"; done | median)
b_shim_pss=$(for p in $shims; do pss_kb "$p"; done | median)

d_run=- d_cs=- d_stop=- d_conc=- d_idle=- d_rss=- d_shim_rss=- d_shim_pss=-
start_docker --bridge none --iptables=false --ip6tables=false
if [ ${#D[@]} -gt 0 ]; then
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
printf '%-40s %12s %12s\n' "waiting shim of the next start RSS/PSS (MB, its 3 processes)" "$(mb "$b_standby_rss")/$(mb "$b_standby_pss")" "-"
echo "exec latency (exec c true): bench/interactive.sh"
