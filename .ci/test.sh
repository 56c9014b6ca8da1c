#!/usr/bin/env bash
# The whole test suite: set-up, then every crate's unit, integration and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh
cargo test --workspace --locked --no-fail-fast "$@"
