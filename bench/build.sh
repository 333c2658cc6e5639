#!/usr/bin/env bash
# Benchmark: `build` of a 10-instruction Dockerfile with a 50 MB context
# (50 files of 1 MB under data/, plus one small file): cold build (empty
# cache), fully cached rebuild, and rebuild after one copied file changed
# (from that COPY on), medians of RUNS. Figures for berth's CLI (context
# directory read in place by the local daemon), berth's CLI sending the
# context as a tar (BERTH_BUILD_SEND_CONTEXT=1, as docker does), the docker
# CLI against berth, and — with docker.io's dockerd installed — the docker
# CLI's classic builder and BuildKit against dockerd (own data root and
# socket).
# Usage: bench/build.sh [RUNS]   (as root; builds berth in release mode
#        unless BERTH names a binary to use)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
if [ -z "${BERTH:-}" ]; then
  scripts/build-release.sh -q
  BERTH=$PWD/target/release/berth
fi
work=$(mktemp -d /var/tmp/berth-bbench.XXXXXX)
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
ms() { python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000:.0f}')" "$1" "$2"; }
now() { date +%s.%N; }

ctx=$work/ctx
mkdir -p "$ctx/data"
for i in $(seq -w 1 50); do head -c 1048576 /dev/urandom > "$ctx/data/f$i.bin"; done
echo small > "$ctx/small.txt"
cat > "$ctx/Dockerfile" <<'EOF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY small.txt /app/
COPY data/ /app/data/
RUN ls /app/data | wc -l > /app/count
LABEL bench=build
EXPOSE 8080
USER nobody
CMD ["cat", "/app/count"]
EOF
ctx_mb=$(du -sm "$ctx" | cut -f1)

# bench_engine PRUNE_CMD -- BUILD_CMD...: prints "cold cached touched" (ms)
bench_engine() {
  local prune=$1; shift
  local colds=() cached=() touched=()
  for r in $(seq 1 "$RUNS"); do
    $prune >/dev/null 2>&1 || true
    t0=$(now); "$@" -t bench:build "$ctx" >/dev/null; t1=$(now); colds+=("$(ms "$t0" "$t1")")
    t0=$(now); "$@" -t bench:build "$ctx" >/dev/null; t1=$(now); cached+=("$(ms "$t0" "$t1")")
    head -c 1048576 /dev/urandom > "$ctx/data/f25.bin"
    t0=$(now); "$@" -t bench:build "$ctx" >/dev/null; t1=$(now); touched+=("$(ms "$t0" "$t1")")
  done
  echo "$(printf '%s\n' "${colds[@]}" | median) $(printf '%s\n' "${cached[@]}" | median) $(printf '%s\n' "${touched[@]}" | median)"
}

mkdir -p "$work/berth"; echo '{}' > "$work/berth/daemon.json"
"$BERTH" daemon --data-root "$work/berth/data" --exec-root "$work/berth/run" -H "unix://$work/berth/sock" \
  --pidfile "$work/berth/pid" --config-file "$work/berth/daemon.json" 2>"$work/berth/log" &
pids+=("$!")
for _ in $(seq 1 100); do [ -S "$work/berth/sock" ] && break; sleep 0.05; done
B=("$BERTH" -H "unix://$work/berth/sock")
scripts/busybox-rootfs.sh | "${B[@]}" import -c 'CMD ["sh"]' - busybox:latest >/dev/null
bprune="${B[*]} builder prune -f"
read -r b_cold b_cached b_touch < <(bench_engine "$bprune" "${B[@]}" build)
read -r t_cold t_cached t_touch < <(BERTH_BUILD_SEND_CONTEXT=1 bench_engine "$bprune" "${B[@]}" build)
read -r c_cold c_cached c_touch < <(DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$work/berth/sock" bench_engine "$bprune" docker build)

d_cold=- d_cached=- d_touch=-
k_cold=- k_cached=- k_touch=-
if command -v dockerd >/dev/null; then
  mkdir -p "$work/docker"; echo '{}' > "$work/docker/daemon.json"
  dockerd --data-root "$work/docker/data" --exec-root "$work/docker/run" -H "unix://$work/docker/sock" \
    --pidfile "$work/docker/pid" --bridge none --iptables=false --ip6tables=false \
    --config-file "$work/docker/daemon.json" >"$work/docker/log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 200); do [ -S "$work/docker/sock" ] && break; sleep 0.1; done
  D=(docker -H "unix://$work/docker/sock")
  if "${B[@]}" save busybox:latest | "${D[@]}" load -q >/dev/null 2>&1; then
    # The classic builder's cache lives in its intermediate images.
    dprune() { "${D[@]}" rmi -f bench:build >/dev/null 2>&1; "${D[@]}" image prune -f >/dev/null 2>&1; }
    read -r d_cold d_cached d_touch < <(DOCKER_BUILDKIT=0 bench_engine dprune "${D[@]}" build --network none)
    # BuildKit, through docker.io's own CLI (docker 28's needs buildx).
    if [ -x /usr/bin/docker ]; then
      K=(/usr/bin/docker -H "unix://$work/docker/sock")
      kprune() { "${K[@]}" builder prune -af >/dev/null 2>&1; "${K[@]}" rmi -f bench:build >/dev/null 2>&1; }
      read -r k_cold k_cached k_touch < <(DOCKER_BUILDKIT=1 bench_engine kprune "${K[@]}" build --network none) || true
    fi
  fi
fi

printf '\n10-instruction Dockerfile, %s MB context (50 x 1 MB + 1 small file); medians of %s runs, ms\n\n' "$ctx_mb" "$RUNS"
printf '%-44s %10s %10s %14s\n' "client -> daemon" "cold" "cached" "1 file changed"
printf '%-44s %10s %10s %14s\n' "berth CLI -> berth (directory read in place)" "$b_cold" "$b_cached" "$b_touch"
printf '%-44s %10s %10s %14s\n' "berth CLI -> berth (context sent as tar)" "$t_cold" "$t_cached" "$t_touch"
printf '%-44s %10s %10s %14s\n' "docker CLI -> berth (classic builder API)" "$c_cold" "$c_cached" "$c_touch"
printf '%-44s %10s %10s %14s\n' "docker CLI -> dockerd (classic builder)" "$d_cold" "$d_cached" "$d_touch"
printf '%-44s %10s %10s %14s\n' "docker CLI -> dockerd (BuildKit)" "$k_cold" "$k_cached" "$k_touch"
