#!/usr/bin/env bash
# Build, start `tuntcp -v serve` in a fresh namespace, curl it, and show the handshake log
# and the pcap summary; everything is removed afterwards. Needs root.
#
#   sudo scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export TUNTCP_LOG="$work/serve.log"
scripts/netns.sh -v serve --pcap "$work/demo.pcap" -- \
    curl -sS --max-time 10 http://10.66.0.2/
echo
echo "== packet log (tuntcp -v serve)"
grep -v '^tuntcp: serving' "$TUNTCP_LOG" | head -40
if command -v tshark >/dev/null; then
    echo
    echo "== pcap summary (tshark -r demo.pcap)"
    tshark -r "$work/demo.pcap" 2>/dev/null
fi
