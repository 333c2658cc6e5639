#!/usr/bin/env bash
# Runs every check and test of berth: formatting, lints, unit tests and the
# integration tests (real daemons, the real docker CLI). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the tests need root (they run real daemons, mounts and namespaces)" >&2; exit 1; }
command -v docker >/dev/null || echo "note: no docker CLI on PATH; the docker-CLI checks will fail" >&2
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace -- --test-threads="${BERTH_TEST_THREADS:-4}"
