#!/usr/bin/env bash
# Runs every check and test of berth: formatting, lints, unit tests and the
# integration tests (real daemons, the real docker CLI). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "the tests need root (they run real daemons, mounts and namespaces)" >&2; exit 1; }
command -v docker >/dev/null || echo "note: no docker CLI on PATH; the docker-CLI checks will fail" >&2
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --no-fail-fast --workspace --lib --bins --tests -- --test-threads="${BERTH_TEST_THREADS:-4}" 2>&1 | tee "$log" || status=$?
# One closing line for the whole run.
awk '/^test result:/ {p+=$4; f+=$6; s+=$8} END {printf "%d passed, %d failed, %d skipped\n", p, f, s}' "$log"
exit "$status"
