#!/usr/bin/env bash
# The test command: unit, integration and doc tests. Extra arguments go to both cargo
# invocations (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets "$@"
cargo test --doc "$@"
