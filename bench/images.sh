#!/usr/bin/env bash
# Benchmark: `image load` and `image save` of a 200 MB, 8-layer image (MB/s,
# median of RUNS), the disk's own write speed for reference, and the daemon's
# idle RSS. With docker.io installed, the same figures for dockerd (on its own
# data root and socket) are printed beside berth's.
# Usage: bench/images.sh [RUNS]   (as root; builds berth in release mode)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SIZE_MB=${SIZE_MB:-200}
scripts/build-release.sh -q
BERTH=$PWD/target/release/berth
work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  umount -R "$work"/docker/data/overlay2/*/merged 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
python3 bench/mkarchive.py "$work/big.tar" "$SIZE_MB" 8
bytes=$(stat -c %s "$work/big.tar")
mb=$(python3 -c "print($bytes/1e6)")

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
rate() { python3 -c "print(f'{$mb/$1:.0f}')"; }

disk=$( (dd if=/dev/zero of="$work/dd" bs=1M count="$SIZE_MB" conv=fdatasync 2>&1 || true) | awk '/copied/ {print $(NF-1), $NF}')
rm -f "$work/dd"

# run_engine NAME CLI...: prints "load_MBps save_MBps"
run_engine() {
  local cli=("$@") loads=() saves=()
  for i in $(seq 1 "$RUNS"); do
    "${cli[@]}" rmi -f bench/big:latest >/dev/null 2>&1 || true
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    t0=$(now); "${cli[@]}" load -q -i "$work/big.tar" >/dev/null; t1=$(now)
    loads+=("$(python3 -c "print($t1-$t0)")")
    t0=$(now); "${cli[@]}" save -o "$work/out.tar" bench/big:latest; t1=$(now)
    saves+=("$(python3 -c "print($t1-$t0)")")
    rm -f "$work/out.tar"
  done
  local l s
  l=$(printf '%s\n' "${loads[@]}" | median)
  s=$(printf '%s\n' "${saves[@]}" | median)
  echo "$(rate "$l") $(rate "$s")"
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

mkdir -p "$work/berth"; echo "{}" > "$work/berth/daemon.json"
"$BERTH" daemon --data-root "$work/berth/data" --exec-root "$work/berth/run" \
  -H "unix://$work/berth/sock" --pidfile "$work/berth/pid" --config-file "$work/berth/daemon.json" 2>"$work/berth/log" &
bpid=$!; pids+=("$bpid")
for _ in $(seq 1 100); do [ -S "$work/berth/sock" ] && break; sleep 0.05; done
sleep 1
berth_idle=$(rss_kb "$bpid")
read -r bload bsave < <(run_engine "$BERTH" -H "unix://$work/berth/sock")
sleep 2
berth_after=$(rss_kb "$bpid")

dload=-; dsave=-; docker_idle=-
if command -v dockerd >/dev/null; then
  mkdir -p "$work/docker"; echo "{}" > "$work/docker/daemon.json"
  dockerd --data-root "$work/docker/data" --exec-root "$work/docker/run" -H "unix://$work/docker/sock" \
    --pidfile "$work/docker/pid" --bridge none --iptables=false --ip6tables=false --config-file "$work/docker/daemon.json" \
    >"$work/docker/log" 2>&1 &
  dpid=$!; pids+=("$dpid")
  for _ in $(seq 1 200); do [ -S "$work/docker/sock" ] && break; sleep 0.1; done
  sleep 2
  docker_idle=$(( $(rss_kb "$dpid") + $(pgrep -f "containerd.*$work/docker" | while read -r p; do rss_kb "$p"; done | awk '{s+=$1} END {print s+0}') ))
  read -r dload dsave < <(run_engine env DOCKER_HOST="unix://$work/docker/sock" docker)
fi

printf '\nimage: %s MB in 8 layers, median of %s runs (page cache dropped before each load)\n' "$(python3 -c "print(round($mb))")" "$RUNS"
printf 'disk write (dd, fdatasync): %s\n\n' "$disk"
printf '%-28s %12s %12s\n' "figure" "berth" "docker"
printf '%-28s %12s %12s\n' "image load (MB/s)" "$bload" "$dload"
printf '%-28s %12s %12s\n' "image save (MB/s)" "$bsave" "$dsave"
printf '%-28s %12s %12s\n' "daemon RSS idle (MB)" "$(python3 -c "print(round($berth_idle/1024,1))")" "$( [ "$docker_idle" = - ] && echo - || python3 -c "print(round($docker_idle/1024,1))")"
printf '%-28s %12s %12s\n' "daemon RSS after bench (MB)" "$(python3 -c "print(round($berth_after/1024,1))")" "-"
