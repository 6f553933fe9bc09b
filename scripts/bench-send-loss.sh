#!/usr/bin/env bash
# Sender-side loss benchmark (issue 17; as root): a kernel client downloads BYTES with curl
# across a router namespace that drops packets at random (nftables `numgen random`, both
# directions, in its forward hook), once from tuntcp (`tuntcp serve`, GET /zeros/N) and once
# from each of two Linux servers (a small python3 HTTP sender serving the same N zero bytes)
# behind the same router and the same rule; optionally also from a second tuntcp with
# `--recovery 0` (RFC 6675 DupThresh, no RACK-TLP), to show what RACK changed.
#
#   client ns --veth-- router ns (nft drop PERMILLE/1000) --veth-- tuntcp ns
#   10.78.1.1          10.78.1.2 | 10.78.2.1                       10.78.2.2
#                                 |                                 + tun0 10.66.0.1 -> tuntcp 10.66.0.2
#                                 |                                 + tun1 10.66.1.1 -> tuntcp 10.66.1.2
#                                 |                                   (--recovery 0)
#                                 | 10.78.3.1 --veth-- Linux ns 10.78.3.2 (GSO)
#                                 | 10.78.4.1 --veth-- Linux ns 10.78.4.2 (one segment per skb)
#
# The drop rule must see wire-sized packets: a drop of a 64 KB super-packet would take up
# to 44 segments at once, which no network does. So every veth that reaches the router
# carries one segment per packet, and the router counts the packets longer than 1500
# octets (printed; it must be 0). Each server gets there the way a host without TSO does:
# - tuntcp runs with its defaults (CUBIC or --cc, RACK-TLP, auto-tuned buffers, TUN
#   offloads on: it writes TSO super-segments); its namespace's veth has TSO off, so that
#   namespace's kernel cuts them into segments in software (GSO) as it forwards them.
#   With `--offload off` tuntcp writes one segment per TUN write instead (the setup of the
#   first measurements; CPU-bound: one system call per segment).
# - "Linux (GSO)": Linux's TCP builds GSO super-packets, cut in software at its veth
#   (TSO off), as on a NIC without TSO.
# - "Linux (1 seg/skb)": `gso_max_segs 1` on its veth, so its TCP builds one segment per
#   skb (Linux's loss recovery then works segment by segment; the first measurements').
# The ratio divides tuntcp's median by the better of the two Linux medians. Both Linux
# servers have Linux's defaults (tcp_recovery, tcp_sack, tcp_wmem as the kernel ships them;
# printed below) but their congestion control is CUBIC (or --linux-cc), set per socket: a
# new namespace's default is the host's, which may be another (bbr on some hosts).
# tuntcp sits one (lossless) forwarding hop further than the Linux servers: the tuntcp
# namespace's kernel routes between its veth and the TUN devices.
# No delay is added: the path's RTT is the namespaces' (tens of microseconds), so loss, not
# RTT, sets the pace, and the 200 ms minimum RTO is thousands of round trips.
#
# Each run: `curl -o /dev/null http://SERVER/zeros/BYTES` in the client namespace, bounded
# by --max-time 110 and `timeout 120`; goodput = bytes received * 8 / curl's total time
# (connection setup included). Each sender's own counters, before and after the run, give
# its retransmitted segments (TcpRetransSegs), retransmission timeouts (TcpExtTCPTimeouts)
# and tail loss probes (TcpExtTCPLossProbes): tuntcp's from `tuntcp nstat -a` through its
# control socket, Linux's from `nstat -asz` in its namespace. Namespaces are unique to this
# run and removed on exit; only processes this script started are stopped, by PID.
#
# Usage: scripts/bench-send-loss.sh [--bytes N] [--loss "10 50 100"] [--runs 3] [--no-rec0]
#          [--cc cubic] [--linux-cc cubic] [--offload on|off]
#   (loss in permille, each way; --cc is tuntcp's `serve --cc`, --linux-cc the Linux
#   servers'; give both to set a controller against the same one).
#   Env: TUNTCP_BIN (default target/release/tuntcp); TUNTCP_BIN_B, another build for the
#   second tuntcp instead of `--recovery 0` (an A/B of two builds in the same runs);
#   TUNTCP_ARGS, more `serve` arguments for
#   the first tuntcp (e.g. `--pcap /tmp/send.pcap`).
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=$((10 * 1024 * 1024))
losses="10 50 100"
runs=3
rec0=1
linux_cc=cubic
cc=cubic
offload=on
while (($#)); do
    case "$1" in
        --bytes) bytes="$2"; shift 2 ;;
        --loss) losses="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --no-rec0) rec0=0; shift ;;
        --linux-cc) linux_cc="$2"; shift 2 ;;
        --cc) cc="$2"; shift 2 ;;
        --offload) offload="$2"; shift 2 ;;
        *) echo "usage: $0 [--bytes N] [--loss \"10 50 100\"] [--runs N] [--no-rec0] [--cc cubic] [--linux-cc cubic] [--offload on|off]" >&2; exit 2 ;;
    esac
done
bin="$(realpath "${TUNTCP_BIN:-target/release/tuntcp}")"
bin_b="$(realpath "${TUNTCP_BIN_B:-$bin}")"
[[ -x "$bin" ]] || { echo "no $bin: cargo build --release" >&2; exit 1; }
[[ "$offload" == on || "$offload" == off ]] || { echo "--offload on or off" >&2; exit 2; }
for tool in nft python3 ip curl nstat ethtool; do
    command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done

C="tsl-cli-$$" R="tsl-rtr-$$" T="tsl-tun-$$" L="tsl-lnx-$$" S="tsl-ls1-$$"
pids=()
logs=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for n in "$C" "$R" "$T" "$L" "$S"; do ip netns del "$n" 2>/dev/null || true; done
    rm -f "${logs[@]}"
}
trap cleanup EXIT INT TERM

for n in "$C" "$R" "$T" "$L" "$S"; do
    ip netns add "$n"
    ip netns exec "$n" ip link set lo up
done
ip link add c0 netns "$C" type veth peer name r0 netns "$R"
ip link add r1 netns "$R" type veth peer name t0 netns "$T"
ip link add r2 netns "$R" type veth peer name l0 netns "$L"
ip link add r3 netns "$R" type veth peer name s0 netns "$S"
ip -n "$C" addr add 10.78.1.1/24 dev c0
ip -n "$R" addr add 10.78.1.2/24 dev r0
ip -n "$R" addr add 10.78.2.1/24 dev r1
ip -n "$T" addr add 10.78.2.2/24 dev t0
ip -n "$R" addr add 10.78.3.1/24 dev r2
ip -n "$L" addr add 10.78.3.2/24 dev l0
ip -n "$R" addr add 10.78.4.1/24 dev r3
ip -n "$S" addr add 10.78.4.2/24 dev s0
for l in "$C c0" "$R r0" "$R r1" "$R r2" "$R r3" "$T t0" "$L l0" "$S s0"; do
    # shellcheck disable=SC2086
    set -- $l
    ip -n "$1" link set "$2" up
    # No GSO super-packets across the router: the drop rule must see wire-sized packets
    # (veth passes a 64 KB GSO packet whole, and one drop would cost 44 segments).
    ip -n "$1" link set "$2" gso_max_segs 1
done
# The servers with super-packets cut them at their own veth (TSO off: software GSO).
for l in "$L l0" "$T t0"; do
    # shellcheck disable=SC2086
    set -- $l
    [[ "$2" == t0 && "$offload" == off ]] && continue
    ip -n "$1" link set "$2" gso_max_segs 65535
    ip netns exec "$1" ethtool -K "$2" tso off >/dev/null
done
ip -n "$C" route add default via 10.78.1.2
ip -n "$T" route add default via 10.78.2.1
ip -n "$L" route add default via 10.78.3.1
ip -n "$S" route add default via 10.78.4.1
ip -n "$R" route add 10.66.0.0/16 via 10.78.2.2
for n in "$R" "$T"; do
    ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0
done

start_tuntcp() { # DEV NET EXTRA-ARGS...: tuntcp serve on DEV with 10.66.NET.2
    local dev="$1" net="$2" log
    shift 2
    log="$(mktemp /tmp/tsl-tuntcp-XXXXXX.log)"
    logs+=("$log")
    local b="$bin"
    [[ "$dev" == tun1 ]] && b="$bin_b"
    ip netns exec "$T" "$b" serve --tun "$dev" --addr "10.66.$net.2" \
        --host "10.66.$net.1/24" --seed 1 "$@" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        ip -n "$T" addr show "$dev" 2>/dev/null | grep "10.66.$net.1" >/dev/null && break
        sleep 0.1
    done
    ip -n "$T" addr show "$dev" 2>/dev/null | grep "10.66.$net.1" >/dev/null || { cat "$log"; exit 1; }
    ip netns exec "$T" sysctl -qw "net.ipv4.conf.$dev.rp_filter=0"
}
# shellcheck disable=SC2086
start_tuntcp tun0 0 --offload "$offload" --cc "$cc" ${TUNTCP_ARGS:-}
if [[ -n "${TUNTCP_BIN_B:-}" ]]; then
    rec0=1
    start_tuntcp tun1 1 --offload "$offload" --cc "$cc"
    b_label="tuntcp $cc B ($TUNTCP_BIN_B)"
else
    ((rec0)) && start_tuntcp tun1 1 --offload "$offload" --cc "$cc" --recovery 0
    b_label="tuntcp $cc --recovery 0"
fi

# The Linux sender: GET /zeros/N answers N zero bytes, as tuntcp serve does. Its congestion
# control is set per socket (TCP_CONGESTION on the listener, inherited by each accepted
# socket): a namespace other than the host's may only default to the algorithms in
# tcp_allowed_congestion_control, and each connection's algorithm is logged to check.
cclog="$(mktemp /tmp/tsl-cc-XXXXXX.log)"
logs+=("$cclog")
linux_server() { # NS ADDR: the Linux sender in NS, listening on ADDR:80
    ip netns exec "$1" timeout 3600 python3 -c '
import socket, sys, threading
cc, log = sys.argv[1].encode(), open(sys.argv[2], "a", buffering=1)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc)
l.bind((sys.argv[3], 80))
l.listen(16)
zeros = memoryview(bytes(1 << 18))
def serve(c):
    with c:
        c.settimeout(130)
        log.write(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode() + "\n")
        req = b""
        while b"\r\n\r\n" not in req:
            d = c.recv(4096)
            if not d:
                return
            req += d
        n = int(req.split(b" ")[1].rsplit(b"/", 1)[1])
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % n)
        while n:
            k = min(n, len(zeros))
            c.sendall(zeros[:k])
            n -= k
        c.shutdown(socket.SHUT_WR)
        while c.recv(4096):
            pass
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$linux_cc" "$cclog" "$2" &
    pids+=($!)
    for _ in $(seq 50); do
        ip netns exec "$1" ss -ltn 2>/dev/null | grep "$2:80" >/dev/null && break
        sleep 0.1
    done
}
linux_server "$L" 10.78.3.2
linux_server "$S" 10.78.4.2

counters() { # KIND DEV: "retrans timeouts probes" of the sender
    local out
    if [[ "$1" == linux ]]; then
        out=$(ip netns exec "$L" nstat -asz 2>/dev/null)
    elif [[ "$1" == linux1 ]]; then
        out=$(ip netns exec "$S" nstat -asz 2>/dev/null)
    else
        out=$(ip netns exec "$T" timeout 10 "$bin" nstat -a -z --tun "$2" 2>/dev/null)
    fi
    awk '$1 == "TcpRetransSegs" { r = $2 } $1 == "TcpExtTCPTimeouts" { t = $2 }
         $1 == "TcpExtTCPLossProbes" { p = $2 } END { print r + 0, t + 0, p + 0 }' <<<"$out"
}

fetch() { # KIND DEV HOST: prints "Mbit/s done(1/0) retrans timeouts probes"
    local r0 t0 p0 r1 t1 p1 size time
    read -r r0 t0 p0 <<<"$(counters "$1" "$2")"
    read -r size time <<<"$(ip netns exec "$C" timeout 120 curl -s -o /dev/null --max-time 110 \
        -w '%{size_download} %{time_total}' "http://$3/zeros/$bytes" 2>/dev/null || true)"
    read -r r1 t1 p1 <<<"$(counters "$1" "$2")"
    awk -v s="${size:-0}" -v t="${time:-0}" -v b="$bytes" \
        'BEGIN { printf "%.1f %d", (t > 0 ? s * 8 / t / 1e6 : 0), (s == b) }'
    echo " $((r1 - r0)) $((t1 - t0)) $((p1 - p0))"
}

# median (min-max) of the numbers on stdin.
median() {
    sort -g | awk '{ a[NR] = $1 } END { m = a[int((NR + 1) / 2)]
        printf "%s (%s-%s)", m, a[1], a[NR] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3gx", a / b; else print "-" }'; }
range() { sort -g | awk '{ a[NR] = $1 } END { print (a[1] == a[NR] ? a[1] : a[1] "-" a[NR]) }'; }

kinds=(tuntcp)
((rec0)) && kinds+=(rec0)
kinds+=(linux linux1)
declare -A dev=([tuntcp]=tun0 [rec0]=tun1 [linux]=- [linux1]=-)
declare -A host=([tuntcp]=10.66.0.2 [rec0]=10.66.1.2 [linux]=10.78.3.2 [linux1]=10.78.4.2)
declare -A label=([tuntcp]="tuntcp $cc" [rec0]="$b_label"
    [linux]="Linux $linux_cc (GSO)" [linux1]="Linux $linux_cc (1 seg/skb)")

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' (src or Cargo.toml modified)')  kernel: $(uname -r)"
echo "command: scripts/bench-send-loss.sh --bytes $bytes --loss \"$losses\" --runs $runs$( ((rec0)) || echo ' --no-rec0') --cc $cc --linux-cc $linux_cc --offload $offload"
echo "Linux servers: congestion control $linux_cc per socket (namespace default" \
    "$(ip netns exec "$L" sysctl -n net.ipv4.tcp_congestion_control))," \
    "tcp_recovery=$(ip netns exec "$L" sysctl -n net.ipv4.tcp_recovery)," \
    "tcp_sack=$(ip netns exec "$L" sysctl -n net.ipv4.tcp_sack)," \
    "tcp_wmem=$(ip netns exec "$L" sysctl -n net.ipv4.tcp_wmem | tr '\t' ' ')"
echo "bytes per run: $bytes, runs: $runs (interleaved); Mbit/s median (min-max)"
echo

details=()
overs=()
hdr="| loss (each way) |"
sep="|---|"
for k in "${kinds[@]}"; do hdr+=" ${label[$k]} sends |"; sep+="---|"; done
hdr+=" tuntcp/best Linux |"; sep+="---|"
((rec0)) && { hdr+=" ${label[rec0]#tuntcp $cc }/best Linux |"; sep+="---|"; }
table=("$hdr" "$sep")
for permille in $losses; do
    ip netns exec "$R" nft flush ruleset
    ip netns exec "$R" nft add table inet lossy
    ip netns exec "$R" nft add chain inet lossy drops '{ type filter hook forward priority 0; }'
    ip netns exec "$R" nft add rule inet lossy drops meta length gt 1500 counter
    ip netns exec "$R" nft add rule inet lossy drops numgen random mod 1000 '<' "$permille" drop
    pct=$(awk -v p="$permille" 'BEGIN { print p / 10 }')
    declare -A rates=() rex=() rtos=() tlps=() unfinished=()
    for k in "${kinds[@]}"; do rates[$k]="" rex[$k]="" rtos[$k]="" tlps[$k]="" unfinished[$k]=0; done
    for ((i = 0; i < runs; i++)); do
        for k in "${kinds[@]}"; do
            read -r mbit fin re to pr <<<"$(fetch "$k" "${dev[$k]}" "${host[$k]}")"
            echo "loss $pct% run $((i + 1)) ${label[$k]}: $mbit Mbit/s$( ((fin)) || echo ' (unfinished)'), retrans $re, RTOs $to, loss probes $pr" >&2
            rates[$k]+="$mbit "; rex[$k]+="$re "; rtos[$k]+="$to "; tlps[$k]+="$pr "
            ((fin)) || unfinished[$k]=$((unfinished[$k] + 1))
        done
    done
    over=$(ip netns exec "$R" nft list chain inet lossy drops | grep -o 'packets [0-9]*' | awk '{ print $2 }')
    echo "loss $pct%: packets over 1500 octets through the router: $over" >&2
    overs+=("$pct%: $over")
    row="| $pct% |"
    declare -A med=()
    for k in "${kinds[@]}"; do
        # shellcheck disable=SC2086
        cell=$(printf '%s\n' ${rates[$k]} | median)
        med[$k]=${cell%% *}
        ((unfinished[$k])) && cell+=", ${unfinished[$k]} of $runs over 110 s"
        row+=" $cell |"
        # shellcheck disable=SC2086
        details+=("| $pct% | ${label[$k]} | $(printf '%s\n' ${rex[$k]} | range) | $(printf '%s\n' ${rtos[$k]} | range) | $(printf '%s\n' ${tlps[$k]} | range) |")
    done
    best=$(printf '%s\n' "${med[linux]}" "${med[linux1]}" | sort -g | tail -1)
    row+=" $(ratio "${med[tuntcp]}" "$best") |"
    ((rec0)) && row+=" $(ratio "${med[rec0]}" "$best") |"
    table+=("$row")
done
printf '%s\n' "${table[@]}"
echo
echo "Each sender's own counters per run (min-max over the runs):"
echo
echo "| loss (each way) | sender | retransmitted segments | RTOs | tail loss probes |"
echo "|---|---|---|---|---|"
printf '%s\n' "${details[@]}"
echo
echo "Packets over 1500 octets through the router (must be 0: no super-packet crossed the drop): ${overs[*]}"
echo "Linux server connections by congestion control (getsockopt TCP_CONGESTION):" \
    "$(sort "$cclog" | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')"
