#!/usr/bin/env bash
# Build, start `tuntcp -v serve` in a fresh namespace, curl it, and show the handshake log
# and the pcap summary; everything is removed afterwards. Needs root.
#
#   scripts/demo.sh        (as root; or: sudo scripts/demo.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "building tuntcp (release; the first time takes about a minute)..." >&2
cargo build --release
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
