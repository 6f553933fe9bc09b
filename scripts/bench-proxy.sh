#!/usr/bin/env bash
# `tuntcp proxy` side by side with tun2proxy 0.8 (ipstack inside), both relaying through the
# same microsocks (SOCKS5) to the same kernel HTTP server, in the same run, alternating.
# Prints a markdown table of medians [min-max] and ratios tuntcp/tun2proxy.
#
#   sudo scripts/bench-proxy.sh [RUNS]      # RUNS (default 3) of every workload per proxy
#
# Set-up (two fresh namespaces, removed afterwards, also on failure or Ctrl-C):
#   C: the proxy under test on its own TUN (tun0), `198.51.100.0/24 dev tun0`, the clients
#      (curl, proxy_load); veth 10.77.0.1
#   S: veth 10.77.0.2, 198.51.100.7 on lo: kernel_http (benches/kernel_http.rs, one mio thread,
#      kernel sockets) on port 80 and microsocks on 10.77.0.2:1080
# A client's connection to 198.51.100.7:80 goes into the TUN, is terminated by the proxy's
# stack (tuntcp's, or ipstack in tun2proxy), relayed to microsocks over the veth, and from
# there to the server. The proxy runs on CPU 0, everything else on CPU 1. Per run, each proxy
# in turn (the order alternates between runs): idle memory, keep-alive latency, connections
# per second, bulk down and up; then restarted for goodput under 1% and 5% loss on the TUN
# side: one nftables rule pair in C drops `numgen random mod 100 < N` of the packets in both
# directions on tun0, the same rule for both proxies. tuntcp runs the loss rows with
# `--offload off`: with TUN offloads the hooks see 64 KB super-segments, so a drop would take
# many MTU-sized packets at once; tun2proxy's TUN has no offloads, so both lose single packets.
# Every load is bounded in bytes or connections and in time; only PIDs started here are
# killed.
#
# Env: TUN2PROXY_BIN (default target/tools/bin/tun2proxy-bin; install with
#   nice -n 10 cargo install tun2proxy --version '^0.8' --root target/tools),
#   BENCH_BYTES (bulk, default 128 MiB), BENCH_LOSS_BYTES (under loss, default 16 MiB),
#   BENCH_CONNS (connections for conns/s, default 1000), BENCH_LAT_N (keep-alive requests,
#   default 5000), BENCH_IDLE_N (idle connections, default 200), BENCH_PROXIES (default
#   "tuntcp tun2proxy"; one of them alone for tuning runs), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-3}"
BYTES="${BENCH_BYTES:-134217728}"
LOSS_BYTES="${BENCH_LOSS_BYTES:-16777216}"
CONNS="${BENCH_CONNS:-1000}"
LAT_N="${BENCH_LAT_N:-5000}"
IDLE_N="${BENCH_IDLE_N:-200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
T2P="${TUN2PROXY_BIN:-$CARGO_TARGET_DIR/tools/bin/tun2proxy-bin}"
SERVER=198.51.100.7
SOCKS=10.77.0.2:1080
PROXY_CPU=0
PEER_CPU=1

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [RUNS]" >&2; exit 2; }
[[ "$(id -u)" == 0 ]] || { echo "$0: needs root (network namespaces, TUN)" >&2; exit 1; }
PROXIES="${BENCH_PROXIES:-tuntcp tun2proxy}"
[[ " $PROXIES " != *" tun2proxy "* || -x "$T2P" ]] || {
    echo "$0: no tun2proxy at $T2P; install it with" >&2
    echo "  nice -n 10 cargo install tun2proxy --version '^0.8' --root target/tools" >&2
    exit 1
}
for t in curl microsocks nft taskset python3 timeout; do
    command -v "$t" >/dev/null || { echo "$0: needs $t (apt-get install microsocks nftables curl)" >&2; exit 1; }
done

cargo build --release -j 1 --quiet --bin tuntcp --example kernel_http --example proxy_load
bin="$CARGO_TARGET_DIR/release"
load="$bin/examples/proxy_load"
t2p_version="$("$T2P" --version 2>/dev/null | awk 'NR == 1 {print $2}' || true)"

# --- namespaces, servers, cleanup --------------------------------------------------------
tmp="$(mktemp -d /tmp/tuntcp-bench-proxy-XXXXXX)"
results="$tmp/results.tsv"
: >"$results"
C="tuntcp-bp-$$-c"
S="tuntcp-bp-$$-s"
pids=()
PROXY=""
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$C" 2>/dev/null || true
    ip netns del "$S" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }
inc() { ip netns exec "$C" taskset -c "$PEER_CPU" timeout 150 "$@"; }

ip netns add "$C"
ip netns add "$S"
ip -n "$C" link set lo up
ip -n "$S" link set lo up
ip netns exec "$C" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
ip link add bp-c netns "$C" type veth peer name bp-s netns "$S"
ip -n "$C" addr add 10.77.0.1/24 dev bp-c
ip -n "$S" addr add 10.77.0.2/24 dev bp-s
ip -n "$S" addr add "$SERVER/32" dev lo
ip -n "$C" link set bp-c up
ip -n "$S" link set bp-s up
ip netns exec "$S" taskset -c "$PEER_CPU" "$bin/examples/kernel_http" --addr "$SERVER:80" \
    >"$tmp/http.log" 2>&1 &
pids+=($!)
ip netns exec "$S" taskset -c "$PEER_CPU" microsocks -i 10.77.0.2 -p 1080 >"$tmp/socks.log" 2>&1 &
pids+=($!)

# Starts proxy $1 (tuntcp or tun2proxy; $2: tuntcp's --offload, default on) in C on
# PROXY_CPU with the test prefix routed into its TUN; its pid goes to $PROXY.
proxy_start() {
    local kind="$1" off="${2:-on}" out="$tmp/proxy.log" i
    case "$kind" in
    tuntcp)
        ip netns exec "$C" taskset -c "$PROXY_CPU" "$bin/tuntcp" proxy --prefix 198.51.100.0/24 \
            --upstream "socks5://$SOCKS" --offload "$off" >"$out" 2>&1 &
        ;;
    tun2proxy)
        ip netns exec "$C" taskset -c "$PROXY_CPU" "$T2P" --tun tun0 --proxy "socks5://$SOCKS" \
            --max-sessions 4096 --verbosity warn >"$out" 2>&1 &
        ;;
    esac
    PROXY=$!
    pids+=("$PROXY")
    for i in $(seq 100); do
        ip -n "$C" link show dev tun0 >/dev/null 2>&1 && break
        kill -0 "$PROXY" 2>/dev/null || break
        sleep 0.05
    done
    # tun2proxy without --setup leaves its TUN down and without an address: give it
    # tuntcp's kernel-side address (what tuntcp sets on its own).
    if [[ "$kind" == tun2proxy ]]; then
        ip -n "$C" link set tun0 up
        ip -n "$C" addr add 10.66.0.1/24 dev tun0
    fi
    for i in $(seq 100); do
        ip -n "$C" -4 addr show dev tun0 up 2>/dev/null | grep 'inet ' >/dev/null && break
        kill -0 "$PROXY" 2>/dev/null || break
        sleep 0.05
    done
    ip -n "$C" route add 198.51.100.0/24 dev tun0 || { cat "$out" >&2; exit 1; }
    for i in $(seq 100); do
        if inc curl -s -m 1 -o /dev/null "http://$SERVER/"; then return 0; fi
        kill -0 "$PROXY" 2>/dev/null || break
        sleep 0.1
    done
    log "$kind did not relay:"
    cat "$out" >&2
    exit 1
}

proxy_stop() {
    kill "$PROXY" 2>/dev/null || true
    wait "$PROXY" 2>/dev/null || true
    local i
    for i in $(seq 50); do
        ip -n "$C" link show tun0 >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    log "tun0 still there after the proxy exited"
    exit 1
}

# nftables drops of $1 % of the packets both ways on tun0 (0: none).
loss() {
    ip netns exec "$C" nft delete table inet bploss 2>/dev/null || true
    (($1 > 0)) || return 0
    ip netns exec "$C" nft -f - <<EOF
table inet bploss {
    chain pre {
        type filter hook prerouting priority -300; policy accept;
        iifname "tun0" numgen random mod 100 < $1 counter drop
    }
    chain post {
        type filter hook postrouting priority 300; policy accept;
        oifname "tun0" numgen random mod 100 < $1 counter drop
    }
}
EOF
}

record() { # key value
    printf '%s\t%s\n' "$1" "$2" >>"$results"
    log "  $1 = $2"
}

# curl GET /zeros/$1 through the proxy, at most $2 seconds; Mbit/s of what arrived.
down() {
    local r size secs
    r=$(inc curl -s -o /dev/null -m "$2" -w '%{size_download} %{time_total}' \
        "http://$SERVER/zeros/$1" || true)
    read -r size secs <<<"$r"
    [[ "$size" == "$1" ]] || log "  (download: $size of $1 bytes in ${2}s)"
    python3 -c "print(f'{${size:-0}*8/${secs:-1}/1e6:.1f}')"
}

# $1 bytes of zeros PUT to /sink (chunked, from a pipe), at most $2 seconds; Mbit/s sent.
up() {
    local r size secs
    r=$(inc sh -c "head -c $1 /dev/zero | curl -s -o /dev/null -m $2 -H 'Expect:' \
        -w '%{size_upload} %{time_total}' -T - http://$SERVER/sink" || true)
    read -r size secs <<<"$r"
    ((${size:-0} >= $1)) || log "  (upload: $size of $1 bytes in ${2}s)"
    python3 -c "print(f'{min(${size:-0},$1)*8/${secs:-1}/1e6:.1f}')"
}

measure() { # kind
    local k="$1" r
    proxy_start "$k"
    record "idle.$k" "$(inc "$load" idle "$SERVER:80" "$IDLE_N" "$PROXY")"
    r=$(inc "$load" lat "$SERVER:80" "$LAT_N")
    record "p50.$k" "${r% *}"
    record "p99.$k" "${r#* }"
    record "conns.$k" "$(inc "$load" conns "$SERVER:80" "$CONNS" 8)"
    record "fin.$k" "$(inc "$load" fin "$SERVER:80" 50)"
    record "down.$k" "$(down "$BYTES" 60)"
    record "up.$k" "$(up "$BYTES" 60)"
    proxy_stop
    proxy_start "$k" off
    loss 1
    record "down1.$k" "$(down "$LOSS_BYTES" 20)"
    record "up1.$k" "$(up "$LOSS_BYTES" 20)"
    loss 5
    record "down5.$k" "$(down "$LOSS_BYTES" 20)"
    record "up5.$k" "$(up "$LOSS_BYTES" 20)"
    ip netns exec "$C" nft list table inet bploss | grep -o 'counter packets [0-9]*' | \
        tr '\n' ' ' | sed 's/^/  5% drops (in, out): /' >&2
    echo >&2
    loss 0
    proxy_stop
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$RUNS"); do
    order="$PROXIES"
    ((run % 2)) || order="$(echo "$PROXIES" | awk '{for (i = NF; i; i--) printf "%s ", $i}')"
    for k in $order; do
        log "run $run: $k"
        measure "$k"
    done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "bench-proxy $(date -u +%Y-%m-%d) commit $commit, tun2proxy $t2p_version, $RUNS runs," \
    "load average $load_before before, $load_after after"
echo
python3 - "$results" <<'EOF'
import sys, statistics
vals = {}
for line in open(sys.argv[1]):
    k, v = line.rstrip("\n").split("\t")
    try:
        vals.setdefault(k, []).append(float(v))
    except ValueError:
        pass
rows = [
    ("down", "bulk download, Mbit/s", True),
    ("up", "bulk upload, Mbit/s", True),
    ("conns", "connections/s (GET /, 8 at a time, client closes)", True),
    ("fin", "server FIN passed on within 2 s, of 50 at once", True),
    ("p50", "keep-alive request latency p50, µs", False),
    ("p99", "keep-alive request latency p99, µs", False),
    ("idle", "memory per idle relayed connection, KiB", False),
    ("down1", "download goodput, 1% loss, Mbit/s", True),
    ("up1", "upload goodput, 1% loss, Mbit/s", True),
    ("down5", "download goodput, 5% loss, Mbit/s", True),
    ("up5", "upload goodput, 5% loss, Mbit/s", True),
]
def cell(xs, scale):
    if not xs:
        return "-", None
    xs = [x * scale for x in xs]
    m = statistics.median(xs)
    return f"{m:.1f} [{min(xs):.1f}-{max(xs):.1f}]", m
print("| row | tuntcp proxy | tun2proxy | tuntcp/tun2proxy | ahead |")
print("|---|---|---|---|---|")
for key, name, higher in rows:
    scale = 1 / 1024 if key == "idle" else 1
    a, ma = cell(vals.get(f"{key}.tuntcp", []), scale)
    b, mb = cell(vals.get(f"{key}.tun2proxy", []), scale)
    if ma is not None and mb:
        ratio = ma / mb
        ahead = "yes" if (ratio > 1) == higher and ratio != 1 else "no"
        print(f"| {name} | {a} | {b} | {ratio:.2f} | {ahead} |")
    elif ma and mb == 0 and higher:
        print(f"| {name} | {a} | {b} | ∞ (tun2proxy 0) | yes |")
    else:
        print(f"| {name} | {a} | {b} | - | - |")
EOF
