#!/usr/bin/env bash
# Benchmark (issue 6): sequential write (dd with fsync) and read of SIZE_MB
# in a named volume, in the container's rootfs (overlay upper dir) and on
# the host directly (the same filesystem as the data roots); medians of
# RUNS, with dockerd's volume and rootfs beside when docker.io is installed.
# Reads come after dropping the page cache (a host-wide, harmless action).
# Usage: bench/volumes.sh [RUNS]   (as root; builds berth in release mode)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-3}
SIZE_MB=${SIZE_MB:-1024}
start_berth
start_docker --bridge none --iptables=false --ip6tables=false

# dd_mbs CMD... : runs a dd (busybox or coreutils) and prints its MB/s.
dd_mbs() {
  local t0 t1
  t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
  python3 -c "print(f'{$SIZE_MB/($t1-$t0):.0f}')"
}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# bench_in CLI... : "vol_write vol_read root_write root_read" medians.
bench_in() {
  local cli=("$@") vw=() vr=() rw=() rr=()
  "${cli[@]}" volume create benchvol >/dev/null
  "${cli[@]}" run -d --name dd --network none -v benchvol:/v busybox sleep 100000 >/dev/null
  for _ in $(seq 1 "$RUNS"); do
    vw+=("$(dd_mbs "${cli[@]}" exec dd dd if=/dev/zero of=/v/f bs=1M count="$SIZE_MB" conv=fsync)")
    drop_caches
    vr+=("$(dd_mbs "${cli[@]}" exec dd dd if=/v/f of=/dev/null bs=1M)")
    "${cli[@]}" exec dd rm -f /v/f
    rw+=("$(dd_mbs "${cli[@]}" exec dd dd if=/dev/zero of=/f bs=1M count="$SIZE_MB" conv=fsync)")
    drop_caches
    rr+=("$(dd_mbs "${cli[@]}" exec dd dd if=/f of=/dev/null bs=1M)")
    "${cli[@]}" exec dd rm -f /f
  done
  "${cli[@]}" rm -f dd >/dev/null
  "${cli[@]}" volume rm benchvol >/dev/null
  echo "$(printf '%s\n' "${vw[@]}" | median) $(printf '%s\n' "${vr[@]}" | median)" \
       "$(printf '%s\n' "${rw[@]}" | median) $(printf '%s\n' "${rr[@]}" | median)"
}

hw=() hr=()
for _ in $(seq 1 "$RUNS"); do
  # busybox's dd, the one the containers run.
  hw+=("$(dd_mbs busybox dd if=/dev/zero of="$work/hostfile" bs=1M count="$SIZE_MB" conv=fsync)")
  drop_caches
  hr+=("$(dd_mbs busybox dd if="$work/hostfile" of=/dev/null bs=1M)")
  rm -f "$work/hostfile"
done
h_w=$(printf '%s\n' "${hw[@]}" | median); h_r=$(printf '%s\n' "${hr[@]}" | median)
read -r b_vw b_vr b_rw b_rr < <(bench_in "${B[@]}")
d_vw=- d_vr=- d_rw=- d_rr=-
if [ ${#D[@]} -gt 0 ]; then read -r d_vw d_vr d_rw d_rr < <(bench_in "${D[@]}"); fi
pct() { python3 -c "print(f'{100*float(\"$1\")/float(\"$2\"):.0f}%')" 2>/dev/null || echo -; }
printf '%-36s %10s %10s %10s\n' "MB/s, $SIZE_MB MiB (median of $RUNS)" berth docker host
printf '%-36s %10s %10s %10s\n' "write+fsync in a volume" "$b_vw" "$d_vw" "$h_w"
printf '%-36s %10s %10s %10s\n' "read from a volume (cold cache)" "$b_vr" "$d_vr" "$h_r"
printf '%-36s %10s %10s %10s\n' "write+fsync in the rootfs" "$b_rw" "$d_rw" "$h_w"
printf '%-36s %10s %10s %10s\n' "read from the rootfs (cold cache)" "$b_rr" "$d_rr" "$h_r"
printf 'berth volume vs host: write %s, read %s\n' "$(pct "$b_vw" "$h_w")" "$(pct "$b_vr" "$h_r")"
