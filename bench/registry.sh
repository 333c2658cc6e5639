#!/usr/bin/env bash
# Benchmark (issue 8): push and pull of a SIZE_MB (500), 5-layer image
# to and from berth's registry and Debian's docker-registry (distribution
# 2.8), each run against an empty registry on 127.0.0.1 (MB/s, median of
# RUNS); and the blob GET throughput of each server under 16 concurrent
# clients (curl processes, 16 × GETS downloads of the largest layer).
# berth's daemon runs on its own data root, socket and --net-prefix; with
# docker.io installed dockerd's figures are printed beside berth's.
# Usage: bench/registry.sh [RUNS]   (as root; SIZE_MB=50 RUNS=1 for a quick check)
BENCH_NET_PREFIX=${BENCH_NET_PREFIX:-br}
. "$(dirname "$0")/lib.sh"
RUNS=${1:-3}
SIZE_MB=${SIZE_MB:-500}
GETS=${GETS:-2}
python3 bench/mkarchive.py "$work/big.tar" "$SIZE_MB" 5
mb=$(python3 -c "print($(stat -c %s "$work/big.tar")/1e6)")
rate() { python3 -c "print(f'{$mb/($2-$1):.0f}')"; }
have_dist=$(command -v docker-registry >/dev/null && echo 1 || echo 0)

# Subnets of its own too, beside other benchmarks' daemons.
start_berth --bip 10.213.0.1/24 --default-address-pool base=10.214.0.0/16,size=24 --ip-forward=false
start_docker --bridge none --iptables=false --ip6tables=false
"${B[@]}" load -q -i "$work/big.tar" >/dev/null
if [ ${#D[@]} -gt 0 ]; then "${D[@]}" load -q -i "$work/big.tar" >/dev/null; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_registry KIND ROOT: an empty registry on 127.0.0.1; sets RPORT, RPID.
start_registry() {
  RPORT=$(free_port)
  if [ "$1" = berth ]; then
    "$BERTH" registry serve --addr "127.0.0.1:$RPORT" --root "$2" 2>>"$work/registry.log" &
  else
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
      "$2" "$RPORT" >"$2.yml"
    docker-registry serve "$2.yml" >>"$work/registry.log" 2>&1 &
  fi
  RPID=$!; pids+=("$RPID")
  for _ in $(seq 1 200); do
    curl -sf -o /dev/null "http://127.0.0.1:$RPORT/v2/" && return 0
    sleep 0.05
  done
  echo "the $1 registry did not start" >&2; return 1
}
stop_registry() {
  kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true
  unset 'pids[-1]'
  rm -rf "$1" "$1.yml"
}

# blob_get PORT: MB/s of 16 concurrent clients fetching the largest layer.
blob_get() {
  local dg size t0 t1 n=$((16 * GETS))
  read -r dg size < <(curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://127.0.0.1:$1/v2/bench/big/manifests/latest" |
    python3 -c 'import json,sys; l=max(json.load(sys.stdin)["layers"], key=lambda x: x["size"]); print(l["digest"], l["size"])')
  t0=$(now)
  seq 1 "$n" | xargs -P 16 -I{} curl -sf -o /dev/null "http://127.0.0.1:$1/v2/bench/big/blobs/$dg"
  t1=$(now)
  python3 -c "print(f'{$n*$size/1e6/($t1-$t0):.0f}')"
}

# run KIND CLI...: sets R_PUSH R_PULL R_GET (MB/s); each run pushes the
# image to an empty registry, removes it and pulls it back.
run() {
  local kind=$1; shift
  local cli=("$@") pushes=() pulls=() ref id t0 t1
  R_GET=-
  for i in $(seq 1 "$RUNS"); do
    start_registry "$kind" "$work/reg-$kind-$i"
    ref=127.0.0.1:$RPORT/bench/big:latest
    "${cli[@]}" tag bench/big:latest "$ref"
    t0=$(now); "${cli[@]}" push "$ref" >/dev/null; t1=$(now)
    pushes+=("$(rate "$t0" "$t1")")
    id=$("${cli[@]}" image inspect -f '{{.Id}}' "$ref")
    "${cli[@]}" rmi -f "$id" >/dev/null
    t0=$(now); "${cli[@]}" pull -q "$ref" >/dev/null; t1=$(now)
    pulls+=("$(rate "$t0" "$t1")")
    "${cli[@]}" tag "$ref" bench/big:latest
    if [ "$i" = "$RUNS" ] && [ "${cli[0]}" = "$BERTH" ]; then R_GET=$(blob_get "$RPORT"); fi
    stop_registry "$work/reg-$kind-$i"
  done
  R_PUSH=$(printf '%s\n' "${pushes[@]}" | median)
  R_PULL=$(printf '%s\n' "${pulls[@]}" | median)
}

# The first push gzips the layers (berth keeps the result; dockerd
# compresses on every push): timed apart, against a throwaway registry;
# sets R_FIRST (MB/s).
first_push() {
  local cli=("$@") t0 t1
  start_registry berth "$work/reg-first"
  "${cli[@]}" tag bench/big:latest "127.0.0.1:$RPORT/first/big:latest"
  t0=$(now); "${cli[@]}" push "127.0.0.1:$RPORT/first/big:latest" >/dev/null; t1=$(now)
  stop_registry "$work/reg-first"
  R_FIRST=$(rate "$t0" "$t1")
}

first_push "${B[@]}"; bfirst=$R_FIRST
run berth "${B[@]}"; bpush=$R_PUSH bpull=$R_PULL bget=$R_GET
dfirst=- dpush=- dpull=- ddpush=- ddpull=- bdpush=- bdpull=- dget=-
if [ ${#D[@]} -gt 0 ]; then
  first_push "${D[@]}"; dfirst=$R_FIRST
  run berth "${D[@]}"; dpush=$R_PUSH dpull=$R_PULL
fi
if [ "$have_dist" = 1 ]; then
  run distribution "${B[@]}"; bdpush=$R_PUSH bdpull=$R_PULL dget=$R_GET
  if [ ${#D[@]} -gt 0 ]; then run distribution "${D[@]}"; ddpush=$R_PUSH ddpull=$R_PULL; fi
fi

printf '\nimage: %s MB in 5 layers of random data; median of %s runs, each against an empty registry on 127.0.0.1\n' \
  "$(python3 -c "print(round($mb))")" "$RUNS"
printf 'blob GET: 16 concurrent curl clients, %s downloads of the largest layer (page cache warm)\n\n' "$((16 * GETS))"
printf '%-42s %10s %10s\n' "figure (MB/s)" "berth" "docker"
printf '%-42s %10s %10s\n' "first push, layers gzipped (berth registry)" "$bfirst" "$dfirst"
printf '%-42s %10s %10s\n' "push to berth's registry" "$bpush" "$dpush"
printf '%-42s %10s %10s\n' "pull from berth's registry" "$bpull" "$dpull"
printf '%-42s %10s %10s\n' "push to distribution 2.8" "$bdpush" "$ddpush"
printf '%-42s %10s %10s\n' "pull from distribution 2.8" "$bdpull" "$ddpull"
printf '\n%-42s %10s %10s\n' "blob GET, 16 clients (MB/s)" "berth reg" "distrib."
printf '%-42s %10s %10s\n' "" "$bget" "$dget"
