#!/usr/bin/env bash
# Loss benchmark (not a test): goodput of a tuntcp sender (each controller: NewReno, CUBIC,
# BBR) vs a smoltcp 0.14 sender on the simulated link of tests/support/link.rs (100 Mbit/s,
# MTU 1500, 5 ms one way unless --delay says otherwise), 10 MiB per run, with seeded loss in
# both directions: by default the loss grid's rows (0, 1, 5, 10 and 20%, and reordering 2% +
# duplication 1% + corruption 0.5% on top of 1% and 5%), or plain loss at the rates --loss
# gives; over several seeds.
#
# The comparison: the same receiver, the same seeds, the same link; only the sender changes.
# With our stack as the common receiver: tuntcp->tuntcp vs smoltcp->tuntcp; with smoltcp as
# the common receiver: tuntcp->smoltcp vs smoltcp->smoltcp. "smoltcp" is smoltcp with its
# default (no congestion control, as in our other tests); "smoltcp+cubic" is smoltcp with
# its CUBIC controller, the like-for-like sender. Socket buffers are 256 KiB, or twice the
# bandwidth-delay product when that is more. Goodput is in virtual time (the clock jumps
# from event to event), so the figures are exact and repeatable, not a CPU measurement.
# Prints, per delay and receiver, markdown tables of the median (min-max) of each of our
# controllers beside both smoltcp senders with the ratios tuntcp / smoltcp, a table of our
# sender with BBR against it with CUBIC, then one line of details per run (packets,
# retransmitted share, our RTOs, loss probes, undos).
#
# Usage: scripts/bench-loss.sh [--seeds 1,2,3,4,5] [--delay 5,50] [--loss 0,1,5,10]
# (--delay: one-way delays in ms; --loss: percent each way. LOSS_GRID_THREADS=n sets the
# worker threads, default 2.)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1,2,3,4,5"
delays="5"
losses=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seeds) seeds="$2"; shift 2 ;;
        --delay) delays="$2"; shift 2 ;;
        --loss) losses="$2"; shift 2 ;;
        *) echo "usage: $0 [--seeds LIST] [--delay MS,...] [--loss PERCENT,...]" >&2; exit 2 ;;
    esac
done
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src tests Cargo.toml || echo ' (src, tests or Cargo.toml modified)')"
echo "command: scripts/bench-loss.sh --seeds $seeds --delay $delays${losses:+ --loss $losses}"
export LOSS_BENCH_SEEDS="$seeds" LOSS_BENCH_DELAYS="$delays"
if [[ -n "$losses" ]]; then
    export LOSS_BENCH_LOSSES="$losses"
fi
cargo test --release --test loss_grid -- --ignored --exact bench_loss_goodput --nocapture
