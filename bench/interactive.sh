#!/usr/bin/env bash
# Benchmark (issue 4): `exec c true` round trip, and the throughput of
# 1 GiB through `run -i` (cat) and through `logs`; medians of RUNS, with
# dockerd's figures beside when docker.io is installed.
# Usage: bench/interactive.sh [RUNS]   (as root)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-20}
SIZE_MB=${SIZE_MB:-1024}
start_berth
start_docker --bridge none --iptables=false --ip6tables=false

bench() {
  local cli=("$@") execs=()
  "${cli[@]}" run -d --name bx --network none busybox sleep 100000 >/dev/null
  "${cli[@]}" exec bx true
  for _ in $(seq 1 "$RUNS"); do
    t0=$(now); "${cli[@]}" exec bx true; t1=$(now); execs+=("$(ms "$t0" "$t1")")
  done
  "${cli[@]}" rm -f bx >/dev/null
  t0=$(now)
  head -c "${SIZE_MB}M" /dev/zero | "${cli[@]}" run -i --rm --network none busybox cat > /dev/null
  t1=$(now)
  local pipe_mbs
  pipe_mbs=$(python3 -c "print(f'{$SIZE_MB/($t1-$t0):.0f}')")
  "${cli[@]}" run --name lg --network none busybox sh -c "head -c $((SIZE_MB/4*1048576)) /dev/zero | tr '\\0' 'x' | fold -w 1000" >/dev/null
  t0=$(now); "${cli[@]}" logs lg > /dev/null; t1=$(now)
  local logs_mbs
  logs_mbs=$(python3 -c "print(f'{($SIZE_MB/4)/($t1-$t0):.0f}')")
  "${cli[@]}" rm -f lg >/dev/null
  echo "$(printf '%s\n' "${execs[@]}" | median) $pipe_mbs $logs_mbs"
}

read -r b_exec b_pipe b_logs < <(bench "${B[@]}")
d_exec=- d_pipe=- d_logs=-
if [ ${#D[@]} -gt 0 ]; then read -r d_exec d_pipe d_logs < <(bench "${D[@]}"); fi
printf '%-38s %12s %12s\n' "" berth docker
printf '%-38s %12s %12s\n' "exec c true (median ms)" "$b_exec" "$d_exec"
printf '%-38s %12s %12s\n' "run -i cat, ${SIZE_MB} MiB (MB/s)" "$b_pipe" "$d_pipe"
printf '%-38s %12s %12s\n' "logs of $((SIZE_MB/4)) MiB (MB/s)" "$b_logs" "$d_logs"
