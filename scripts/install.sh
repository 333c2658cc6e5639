#!/usr/bin/env bash
# One command for a fresh Debian 12 machine (as root): installs what berth
# needs, builds it in release mode, installs /usr/local/bin/berth, its
# per-container monitor /usr/local/bin/berth-shim and berth-shim-exec (and the
# berthd alias), starts the daemon in the background, makes busybox:latest
# from the busybox-static package, lists it and runs a container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-release.sh --locked
install -m 0755 target/release/berth /usr/local/bin/berth
# The per-container monitor, found beside berth.
install -m 0755 target/release/berth-shim /usr/local/bin/berth-shim
install -m 0755 target/release/berth-shim-exec /usr/local/bin/berth-shim-exec
ln -sf berth /usr/local/bin/berthd
if ! berth version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup berth daemon >>/var/log/berth.log 2>&1 &
  for _ in $(seq 1 100); do
    berth version >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
berth version >/dev/null || { echo "the berth daemon did not start; see /var/log/berth.log" >&2; exit 1; }
scripts/busybox-rootfs.sh | berth image import -c 'CMD ["sh"]' -m "busybox-static $(dpkg-query -W -f='${Version}' busybox-static)" - busybox:latest >/dev/null
berth image ls
berth run --rm busybox sh -c 'echo "hello from $(hostname), a berth container (pid $$)"'
