#!/usr/bin/env bash
# Receiver-side loss benchmark (issue 21; as root): a Linux sender sends BYTES to a receiver
# across a router namespace that drops packets at random (nftables `numgen random`, both
# directions, in its forward hook), and the goodput of tuntcp as the receiver is set against
# a Linux receiver in the same place, with SACK on and off at the sender.
#
#   sender ns  --veth--  router ns (nft drop PERMILLE/1000)  --veth--  receiver ns
#   10.77.1.1            10.77.1.2 | 10.77.2.1                          10.77.2.2
#                                                                       + tun0 10.66.0.1 ->
#                                                                         tuntcp 10.66.0.2
# The Linux receiver is the receiver namespace's kernel on 10.77.2.2; tuntcp sits one
# forwarding hop further (the receiver kernel routes to its TUN device), with its defaults
# (`tuntcp serve`: auto-tuned receive buffer, offloads on) and discard on port 9. The Linux
# receiver has Linux's defaults (tcp_rmem autotuning). No delay is added: the path's RTT is
# the namespaces' (tens of microseconds), so loss, not RTT, sets the pace. The sender's
# congestion control is --sender-cc (default cubic), set per socket (TCP_CONGESTION) and
# checked by getsockopt: a new namespace's default is the host's, which may be another.
#
# Each run: python3 in the sender namespace connects to port 9, sends BYTES, half-closes and
# waits for the receiver's FIN; goodput = BYTES / that time; the sender's RetransSegs /
# OutSegs (its namespace's `nstat`) give the share of segments sent again, and its
# TCPTimeouts its RTOs per run. Every run is bounded
# (timeout 120 s); namespaces are unique to this run and removed on exit; only processes
# this script started are stopped, by PID.
#
# The drop rule must see wire-sized packets (one drop of a 64 KB super-packet would take up to
# 44 segments at once): the router counts packets over 1500 octets (printed; must be 0). With
# `--sender-skb gso` (the default) the sender's TCP builds GSO super-packets and its own veth
# (TSO off) cuts them in software, as a host without TSO does; with `--sender-skb 1` its veth
# has `gso_max_segs 1`, so its TCP builds one segment per skb (the first measurements).
#
# Usage: scripts/bench-recv-loss.sh [--bytes N] [--loss "10 50"] [--runs 3]
#          [--sender-cc cubic] [--sack "1 0"] [--sender-skb gso|1]
#   (loss in permille, each way; --sack the sender's tcp_sack settings to run).
#   Env: TUNTCP_BIN (default target/release/tuntcp); TUNTCP_ARGS, more `serve` arguments
#   (e.g. `--pcap /tmp/recv.pcap`).
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=$((20 * 1000 * 1000))
losses="10 50"
runs=3
sender_cc=cubic
sacks="1 0"
sender_skb=gso
while (($#)); do
    case "$1" in
        --bytes) bytes="$2"; shift 2 ;;
        --loss) losses="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --sender-cc) sender_cc="$2"; shift 2 ;;
        --sack) sacks="$2"; shift 2 ;;
        --sender-skb) sender_skb="$2"; shift 2 ;;
        *) echo "usage: $0 [--bytes N] [--loss \"10 50\"] [--runs N] [--sender-cc cubic] [--sack \"1 0\"] [--sender-skb gso|1]" >&2; exit 2 ;;
    esac
done
bin="$(realpath "${TUNTCP_BIN:-target/release/tuntcp}")"
[[ -x "$bin" ]] || { echo "no $bin: cargo build --release" >&2; exit 1; }
[[ "$sender_skb" == gso || "$sender_skb" == 1 ]] || { echo "--sender-skb gso or 1" >&2; exit 2; }
for tool in nft python3 ip nstat ethtool; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

S="trl-snd-$$" R="trl-rtr-$$" D="trl-rcv-$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for n in "$S" "$R" "$D"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

for n in "$S" "$R" "$D"; do
    ip netns add "$n"
    ip netns exec "$n" ip link set lo up
done
ip link add s0 netns "$S" type veth peer name r0 netns "$R"
ip link add r1 netns "$R" type veth peer name d0 netns "$D"
ip -n "$S" addr add 10.77.1.1/24 dev s0
ip -n "$R" addr add 10.77.1.2/24 dev r0
ip -n "$R" addr add 10.77.2.1/24 dev r1
ip -n "$D" addr add 10.77.2.2/24 dev d0
for l in "$S s0" "$R r0" "$R r1" "$D d0"; do
    set -- $l
    ip -n "$1" link set "$2" up
    # No GSO super-packets across the router: the drop rule must see wire-sized packets
    # (veth passes a sender's 64 KB GSO packet whole, and one drop would cost 44 segments).
    ip -n "$1" link set "$2" gso_max_segs 1
done
if [[ "$sender_skb" == gso ]]; then
    ip -n "$S" link set s0 gso_max_segs 65535
    ip netns exec "$S" ethtool -K s0 tso off >/dev/null
fi
ip -n "$S" route add default via 10.77.1.2
ip -n "$D" route add default via 10.77.2.1
ip -n "$R" route add 10.66.0.0/24 via 10.77.2.2
for n in "$R" "$D"; do
    ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0
done

# tuntcp in the receiver namespace, behind tun0.
log="$(mktemp /tmp/trl-tuntcp-XXXXXX.log)"
# shellcheck disable=SC2086
ip netns exec "$D" "$bin" serve --tun tun0 --seed 1 ${TUNTCP_ARGS:-} >"$log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    ip -n "$D" addr show tun0 2>/dev/null | grep 10.66.0.1 >/dev/null && break
    sleep 0.1
done
ip -n "$D" addr show tun0 | grep 10.66.0.1 >/dev/null || { cat "$log"; exit 1; }
ip netns exec "$D" sysctl -qw net.ipv4.conf.tun0.rp_filter=0

# The Linux receiver: discard on 10.77.2.2:9.
ip netns exec "$D" timeout 3600 python3 -c '
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.77.2.2", 9))
l.listen(8)
while True:
    c, _ = l.accept()
    while c.recv(1 << 18):
        pass
    c.close()
' &
pids+=($!)
sleep 0.3

# The sender's "OutSegs RetransSegs TCPTimeouts TCPLossProbes" (its namespace's counters).
snd_counters() {
    ip netns exec "$S" nstat -asz 2>/dev/null | awk '$1 == "TcpOutSegs" { o = $2 }
        $1 == "TcpRetransSegs" { r = $2 } $1 == "TcpExtTCPTimeouts" { t = $2 }
        $1 == "TcpExtTCPLossProbes" { p = $2 } END { print o + 0, r + 0, t + 0, p + 0 }'
}

send() { # HOST: prints "Mbit/s retrans-share RTOs probes"
    local before after
    before=$(snd_counters)
    local rate
    rate=$(ip netns exec "$S" timeout 120 python3 -c '
import socket, sys, time
host, n, cc = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc)
s.settimeout(110)
s.connect((host, 9))
if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0") != cc:
    sys.exit(1)
buf = bytes(65536)
t0 = time.monotonic()
left = n
while left:
    left -= s.send(buf[:min(left, len(buf))])
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
print("%.2f" % (n * 8 / (time.monotonic() - t0) / 1e6))
' "$1" "$bytes" "$sender_cc" 2>/dev/null || echo "fail")
    after=$(snd_counters)
    read -r out0 re0 to0 pr0 <<<"$before"
    read -r out1 re1 to1 pr1 <<<"$after"
    echo "$rate $(awk -v o=$((out1 - out0)) -v r=$((re1 - re0)) 'BEGIN { printf "%.1f%%", o ? 100 * r / o : 0 }')" \
        "$((to1 - to0)) $((pr1 - pr0))"
}

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] " (" a[1] "-" a[NR] ")" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3gx", a / b; else print "-" }'; }

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  commit: $(git rev-parse --short HEAD)  kernel: $(uname -r)"
echo "command: scripts/bench-recv-loss.sh --bytes $bytes --loss \"$losses\" --runs $runs --sender-cc $sender_cc --sack \"$sacks\" --sender-skb $sender_skb"
echo "bytes per run: $bytes, runs: $runs; Mbit/s median (min-max), sender retransmitted share of segments"
echo "sender: congestion control $sender_cc per socket (namespace default $(ip netns exec "$S" sysctl -n net.ipv4.tcp_congestion_control))"
echo
echo "| loss (each way) | sender SACK | tuntcp receiver | Linux receiver | tuntcp/Linux | retrans into tuntcp | retrans into Linux | sender RTOs to tuntcp / to Linux |"
echo "|---|---|---|---|---|---|---|---|"
overs=()
for permille in $losses; do
    ip netns exec "$R" nft flush ruleset
    ip netns exec "$R" nft add table inet lossy
    ip netns exec "$R" nft add chain inet lossy drops '{ type filter hook forward priority 0; }'
    ip netns exec "$R" nft add rule inet lossy drops meta length gt 1500 counter
    ip netns exec "$R" nft add rule inet lossy drops numgen random mod 1000 '<' "$permille" drop
    pct=$(awk -v p="$permille" 'BEGIN { print p / 10 }')
    for sack in $sacks; do
        ip netns exec "$S" sysctl -qw net.ipv4.tcp_sack=$sack
        t_rates=() l_rates=() t_re=() l_re=() t_to=() l_to=()
        for ((i = 0; i < runs; i++)); do
            read -r r s to pr <<<"$(send 10.66.0.2)"
            t_rates+=("$r"); t_re+=("$s"); t_to+=("$to")
            echo "loss $pct% sack $sack run $((i + 1)) tuntcp receiver: $r Mbit/s, sender retrans $s, RTOs $to, loss probes $pr" >&2
            read -r r s to pr <<<"$(send 10.77.2.2)"
            l_rates+=("$r"); l_re+=("$s"); l_to+=("$to")
            echo "loss $pct% sack $sack run $((i + 1)) Linux receiver: $r Mbit/s, sender retrans $s, RTOs $to, loss probes $pr" >&2
        done
        t_med=$(printf '%s\n' "${t_rates[@]}" | median)
        l_med=$(printf '%s\n' "${l_rates[@]}" | median)
        echo "| $pct% | $([[ $sack == 1 ]] && echo on || echo off) |" \
            "$t_med | $l_med | $(ratio "${t_med%% *}" "${l_med%% *}") |" \
            "${t_re[*]} | ${l_re[*]} | ${t_to[*]} / ${l_to[*]} |"
    done
    over=$(ip netns exec "$R" nft list chain inet lossy drops | grep -o 'packets [0-9]*' | awk '{ print $2 }')
    overs+=("$pct%: $over")
done
echo
echo "Packets over 1500 octets through the router (must be 0: no super-packet crossed the drop): ${overs[*]}"
