#!/usr/bin/env bash
# Builds berth in release mode: the `berth` binary, and `berth-shim` (the
# per-container monitor) and `berth-shim-exec` (exec) linked statically, so
# that each container's monitor maps no shared C library (about 1.5 MB
# resident instead of 2.5 MB; the dynamically linked ones that `cargo build`
# makes work the same).
# Usage: scripts/build-release.sh [cargo flags, e.g. --locked -q]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release "$@" -p berth
# Static and not position-independent (as runc and containerd's shims are
# built): nothing to relocate at start, so its pages stay shared.
for bin in berth-shim berth-shim-exec; do
  cargo rustc --release "$@" -p berth --bin "$bin" -- -C target-feature=+crt-static -C relocation-model=static
done
