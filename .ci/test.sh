#!/usr/bin/env bash
# The whole test suite: set-up, then every crate's unit, integration and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
# Build every test and the `reelflow` binary first: the same build the test run below does
# (so there it is a no-op), and the end-to-end tests in tests/ are handed the binary it made
# rather than running cargo themselves from inside a test, whose environment differs enough
# to make cargo rebuild shared dependencies (mistral.rs: about 8 minutes).
cargo test --workspace --locked --no-run "$@"
profile=debug
for arg in "$@"; do [ "$arg" = "--release" ] && profile=release; done
REELFLOW_TEST_BIN="$(realpath "${CARGO_TARGET_DIR:-target}")/$profile/reelflow"
export REELFLOW_TEST_BIN
cargo test --workspace --locked --no-fail-fast "$@"
