#!/usr/bin/env bash
# Installs what building, running and testing berth needs on Debian 12, from
# Debian packages only. Safe to run again.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(busybox-static tini nftables iproute2 libseccomp-dev pkg-config gcc libc6-dev make tar ca-certificates python3 procps docker-registry openssl docker-compose skopeo podman docker.io
  # The cgroup v2 test boots a kernel of its own under qemu (tests/cgroup_v2.rs).
  qemu-system-x86 linux-image-amd64 cpio binutils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  # Debian's own toolchain; berth needs Rust >= 1.85 (checked below).
  apt-get install -y -qq --no-install-recommends cargo rustc >/dev/null
fi
ver=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n' 1.85.0 "$ver" | sort -V | head -n1)" != 1.85.0 ]; then
  echo "berth needs Rust 1.85 or newer; this machine has rustc $ver" >&2
  exit 1
fi
