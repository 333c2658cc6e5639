#!/usr/bin/env bash
# Benchmark (issue 5): the start latency a bridge network adds (`run --rm`
# on bridge vs none, medians of RUNS), and HTTP requests/s to a busybox
# httpd through a published port on 127.0.0.1, straight to the container's
# address on the bridge this benchmark's daemon made, and on the host path
# (--network host); dockerd's published port beside when docker.io is
# installed. Load: ab (apache2-utils), REQS requests, CONC at a time, each
# figure the median of ROUNDS runs (the three paths in turn, round after
# round). Traffic stays on this machine.
# Usage: bench/network.sh [RUNS]   (as root; builds berth in release mode)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-20}
REQS=${REQS:-3000}
CONC=${CONC:-8}
ROUNDS=${ROUNDS:-7}
command -v ab >/dev/null || { echo "needs ab: apt-get install apache2-utils" >&2; exit 1; }
had_docker0=$(ip link show docker0 >/dev/null 2>&1 && echo yes || echo no)
# berth's bridges from a pool of their own: dockerd does not look past a
# bridge that is down when it picks 172.17.0.0/16 for docker0.
start_berth --default-address-pool base=10.213.0.0/16,size=24
# dockerd on its own bridge but without touching the host's iptables: from
# 127.0.0.1 its published ports go through docker-proxy either way.
start_docker --iptables=false --ip6tables=false
net_cleanup() {
  bench_cleanup
  [ "$had_docker0" = no ] && ip link del docker0 2>/dev/null || true
}
trap net_cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# One ab run's requests/s.
rps_once() {
  ab -q -n "$REQS" -c "$CONC" "$1" 2>/dev/null | awk '/^Requests per second/ {print $4}'
}
wait_http() { for _ in $(seq 1 100); do ab -q -n 1 "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
# Two servers in the container: 81 behind the published port, 80 for the
# straight path. Each path then has the client's whole ephemeral port range
# to itself: a client port reused while the container still holds that
# connection in TIME_WAIT (in its own namespace, where the host's port choice
# cannot see it) costs a SYN retransmission of a second, and one range for
# both paths ran out within a few rounds (requests/s fell tenfold).
# REQS x ROUNDS per path stays below the range (28231 ports).
httpd='mkdir -p /www && echo hello > /www/index.html && httpd -p 81 -h /www && exec httpd -f -p 80 -h /www'
host_httpd() { echo "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 127.0.0.1:$1 -h /www"; }

# latency CLI... -> "bridge_run none_run bridge_start none_start" (ms): the
# whole `run --rm` (setup and teardown), and `start` alone (setup).
latency() {
  local cli=("$@") br=() no=() bs=() ns=() id
  "${cli[@]}" run --rm busybox true; "${cli[@]}" run --rm --network none busybox true
  for _ in $(seq 1 "$RUNS"); do
    t0=$(now); "${cli[@]}" run --rm busybox true; t1=$(now); br+=("$(ms "$t0" "$t1")")
    t0=$(now); "${cli[@]}" run --rm --network none busybox true; t1=$(now); no+=("$(ms "$t0" "$t1")")
    for net in bridge none; do
      id=$("${cli[@]}" create --network "$net" busybox sleep 100)
      t0=$(now); "${cli[@]}" start "$id" >/dev/null; t1=$(now)
      if [ "$net" = bridge ]; then bs+=("$(ms "$t0" "$t1")"); else ns+=("$(ms "$t0" "$t1")"); fi
      "${cli[@]}" rm -f "$id" >/dev/null
    done
  done
  echo "$(printf '%s\n' "${br[@]}" | median) $(printf '%s\n' "${no[@]}" | median)" \
       "$(printf '%s\n' "${bs[@]}" | median) $(printf '%s\n' "${ns[@]}" | median)"
}

# http CLI... -> "published direct host". The three paths are measured in
# turn, round after round, each getting the median of its rounds: a slow
# spell of the machine (other guests on its host) then weighs on all three
# alike instead of on whichever ran in it.
http() {
  local cli=("$@") p hp ip
  p=$(free_port); hp=$(free_port)
  "${cli[@]}" run -d --name web -p "127.0.0.1:$p:81" busybox sh -c "$httpd" >/dev/null
  "${cli[@]}" run -d --name hostweb --network host busybox sh -c "$(host_httpd "$hp")" >/dev/null
  wait_http "http://127.0.0.1:$p/"
  wait_http "http://127.0.0.1:$hp/"
  ip=$("${cli[@]}" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web)
  local urls=("http://127.0.0.1:$p/" - "http://127.0.0.1:$hp/")
  # Only an address on the bridge this daemon made: check the route first.
  if [ -n "$ip" ] && ip route get "$ip" | grep -qv ' via ' && wait_http "http://$ip/"; then
    urls[1]="http://$ip/"
  fi
  local pub=() dir=() host=() u
  for u in "${urls[@]}"; do [ "$u" = - ] || ab -q -n 200 -c "$CONC" "$u" >/dev/null 2>&1 || true; done
  for _ in $(seq 1 "$ROUNDS"); do
    pub+=("$(rps_once "${urls[0]}")")
    [ "${urls[1]}" = - ] || dir+=("$(rps_once "${urls[1]}")")
    host+=("$(rps_once "${urls[2]}")")
  done
  "${cli[@]}" rm -f web hostweb >/dev/null
  local d=-
  [ ${#dir[@]} -eq 0 ] || d=$(printf '%s\n' "${dir[@]}" | median)
  echo "$(printf '%s\n' "${pub[@]}" | median) $d $(printf '%s\n' "${host[@]}" | median)"
}

read -r b_br b_no b_bs b_ns < <(latency "${B[@]}")
read -r b_pub b_dir b_host < <(http "${B[@]}")
d_br=- d_no=- d_bs=- d_ns=- d_pub=- d_dir=- d_host=-
if [ ${#D[@]} -gt 0 ]; then
  read -r d_br d_no d_bs d_ns < <(latency "${D[@]}")
  read -r d_pub d_dir d_host < <(http "${D[@]}")
fi
printf '%-44s %10s %10s\n' "" berth docker
printf '%-44s %10s %10s\n' "run --rm true on bridge (median ms)" "$b_br" "$d_br"
printf '%-44s %10s %10s\n' "run --rm true on none (median ms)" "$b_no" "$d_no"
printf '%-44s %10s %10s\n' "start on bridge (median ms)" "$b_bs" "$d_bs"
printf '%-44s %10s %10s\n' "start on none (median ms)" "$b_ns" "$d_ns"
printf '%-44s %10s %10s\n' "HTTP req/s via published 127.0.0.1 port" "$b_pub" "$d_pub"
printf '%-44s %10s %10s\n' "HTTP req/s to the container's address" "$b_dir" "$d_dir"
printf '%-44s %10s %10s\n' "HTTP req/s on the host path (--network host)" "$b_host" "$d_host"
python3 - "$b_br" "$b_no" "$b_bs" "$b_ns" "$b_pub" "$b_host" <<'PY'
import sys
br, no, bs, ns, pub, host = sys.argv[1:]
try:
    print(f"berth: a bridge adds {float(bs)-float(ns):.1f} ms to start, {float(br)-float(no):.1f} ms to run --rm; "
          f"published port = {100*float(pub)/float(host):.0f}% of the host path")
except ValueError:
    pass
PY
