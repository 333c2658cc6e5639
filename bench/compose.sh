#!/usr/bin/env bash
# Benchmark (issue 9): `up -d` and `down` of a 10-service project (busybox
# services sleeping, on the project's own network), medians of RUNS: berth
# compose against berth, docker-compose 1.29 against berth, and
# docker-compose against dockerd when docker.io is installed.
# Usage: bench/compose.sh [RUNS]   (as root; builds berth in release mode)
. "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
N=${N:-10}
start_berth --default-address-pool base=10.214.0.0/16,size=24
start_docker --iptables=false --ip6tables=false
proj=$work/proj
mkdir -p "$proj"
{
  echo "services:"
  for i in $(seq 1 "$N"); do
    printf '  s%s:\n    image: busybox\n    command: ["sleep", "100000"]\n    init: true\n' "$i"
  done
} > "$proj/compose.yaml"

# updown CMD... -> "up_ms down_ms" medians; CMD is the compose command.
updown() {
  local ups=() downs=()
  for _ in $(seq 1 "$RUNS"); do
    t0=$(now); "$@" -p benchp -f "$proj/compose.yaml" up -d >/dev/null 2>&1; t1=$(now)
    ups+=("$(ms "$t0" "$t1")")
    t0=$(now); "$@" -p benchp -f "$proj/compose.yaml" down -t 1 >/dev/null 2>&1; t1=$(now)
    downs+=("$(ms "$t0" "$t1")")
  done
  echo "$(printf '%s\n' "${ups[@]}" | median) $(printf '%s\n' "${downs[@]}" | median)"
}

read -r bb_up bb_down < <(updown "${B[@]}" compose)
dc_b_up=- dc_b_down=- dc_d_up=- dc_d_down=-
if command -v docker-compose >/dev/null; then
  read -r dc_b_up dc_b_down < <(DOCKER_HOST="unix://$work/berth/sock" updown docker-compose)
  if [ ${#D[@]} -gt 0 ]; then
    read -r dc_d_up dc_d_down < <(DOCKER_HOST="unix://$work/docker/sock" updown docker-compose)
  fi
fi
printf '\n%s services; medians of %s runs, ms\n\n' "$N" "$RUNS"
printf '%-40s %10s %10s\n' "" "up -d" "down"
printf '%-40s %10s %10s\n' "berth compose -> berth" "$bb_up" "$bb_down"
printf '%-40s %10s %10s\n' "docker-compose 1.29 -> berth" "$dc_b_up" "$dc_b_down"
printf '%-40s %10s %10s\n' "docker-compose 1.29 -> dockerd" "$dc_d_up" "$dc_d_down"
