#!/usr/bin/env bash
# Loss benchmark (not a test): goodput of a tuntcp sender vs a smoltcp 0.14 sender on the
# simulated link of tests/support/link.rs (5 ms one way, 100 Mbit/s, MTU 1500), 10 MiB per
# run, with seeded loss of 0, 1, 5, 10 and 20% in both directions (and reordering 2% +
# duplication 1% + corruption 0.5% on top of 1% and 5%), over several seeds.
#
# The comparison: the same receiver, the same seeds, the same link; only the sender changes.
# With our stack as the common receiver: tuntcp->tuntcp vs smoltcp->tuntcp; with smoltcp as
# the common receiver: tuntcp->smoltcp vs smoltcp->smoltcp. "smoltcp" is smoltcp with its
# default (no congestion control, as in our other tests); "smoltcp+cubic" is smoltcp with
# its CUBIC controller, the like-for-like sender. Goodput is in virtual time (the clock jumps
# from event to event), so the figures are exact and repeatable, not a CPU measurement.
# Prints markdown tables of the median (min-max) and the ratios tuntcp / smoltcp, a table of
# our sender with BBR (`--cc bbr`) against it with CUBIC (receiver tuntcp), then one line of
# details per run (packets, retransmitted share, our RTOs).
#
# Usage: scripts/bench-loss.sh [--seeds 1,2,3,4,5]
# (LOSS_GRID_THREADS=n sets the worker threads, default 2.)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1,2,3,4,5"
if [[ "${1:-}" == "--seeds" ]]; then
    seeds="$2"
fi
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' (src or Cargo.toml modified)')"
echo "command: scripts/bench-loss.sh --seeds $seeds"
LOSS_BENCH_SEEDS="$seeds" cargo test --release --test loss_grid -- \
    --ignored --exact bench_loss_goodput --nocapture
