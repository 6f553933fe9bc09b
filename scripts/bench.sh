#!/usr/bin/env bash
# Benchmarks tuntcp against smoltcp 0.14 over the same kind of TUN device, with the raw TUN
# packet rates and kernel<->kernel over veth (iperf3; ab against kernel_http) as references,
# and prints a markdown table of
# medians [min-max] and ratios. Every ratio compares figures measured in this run.
#
#   sudo scripts/bench.sh [RUNS]          # RUNS (default 3) of every workload
#
# Everything that touches a TUN device or the kernel's network runs in a fresh network
# namespace (tuntcp-bench-PID-N), one per measurement, removed afterwards (also on failure
# or Ctrl-C). Nothing is sent from the host namespace. The stack (ours or smoltcp) runs on
# CPU 0, the kernel peer (curl, socat, ab, iperf3 client) on CPU 1. Every load is bounded in
# bytes or requests and in time (`timeout`).
#
# Env: BENCH_BYTES (bulk transfer size, default 1 GiB), BENCH_CONNS (ab -n for short
# connections, default 10000), BENCH_LAT_N (requests on one keep-alive connection, default
# 20000), BENCH_SIM_BYTES (callgrind transfer, default 10 MiB), BENCH_SIM_CONNS (callgrind
# short connections, default 5000), BENCH_SKIP (space-separated
# groups to skip: bulk device conns lat v6 raw veth sim), BENCH_SERVE_ARGS (extra flags for
# `tuntcp serve`, e.g. `--threaded` to measure the socket-API server), CARGO_TARGET_DIR.
#
# The v6 group measures tuntcp over IPv6 against IPv4 on the same server (the stack's
# fd66::2 and 10.66.0.2 on one TUN): bulk both ways, short connections and latency,
# BENCH_V6_PAIRS (default 3) pairs per server and run, one family right after the other,
# which goes first alternating from pair to pair (so slow drift in a shared machine's load
# hits both); each pair gives one IPv6/IPv4 ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-3}"
skip() { [[ " ${BENCH_SKIP:-} " == *" $1 "* ]]; }
BYTES="${BENCH_BYTES:-1073741824}"
CONNS="${BENCH_CONNS:-10000}"
LAT_N="${BENCH_LAT_N:-20000}"
SIM_BYTES="${BENCH_SIM_BYTES:-10485760}"
SIM_CONNS="${BENCH_SIM_CONNS:-5000}"
V6_PAIRS="${BENCH_V6_PAIRS:-3}"
SKIP=" ${BENCH_SKIP:-} "
SERVE_ARGS="${BENCH_SERVE_ARGS:-}"
STACK_CPU=0
PEER_CPU=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [RUNS]" >&2; exit 2; }
[[ "$(id -u)" == 0 ]] || { echo "$0: needs root (network namespaces, TUN)" >&2; exit 1; }

# --- tools ----------------------------------------------------------------------------------
missing=()
for pair in curl:curl socat:socat iperf3:iperf3 ab:apache2-utils valgrind:valgrind \
    taskset:util-linux python3:python3; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo build --release -j 1 --quiet --bin tuntcp --example smoltcp_server --example tun_raw \
    --example sim_cost --example sim_conns --example kernel_http
skip device || cargo build --release -j 1 --quiet --features tunrs --example device_compare
bin="$CARGO_TARGET_DIR/release"
ex="$bin/examples"

# --- namespaces, servers, cleanup --------------------------------------------------------
tmp="$(mktemp -d /tmp/tuntcp-bench-XXXXXX)"
results="$tmp/results.tsv"
: >"$results"
nss=()
pids=()
seq_no=0
cleanup() {
    local p n
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for n in "${nss[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# Creates a namespace with lo up; its name goes to $NS.
ns_new() {
    seq_no=$((seq_no + 1))
    NS="tuntcp-bench-$$-$seq_no"
    ip netns add "$NS"
    nss+=("$NS")
    ip netns exec "$NS" ip link set lo up
    ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
}

ns_del() {
    ip netns del "$1" 2>/dev/null || true
}

# Runs the kernel-side peer in $NS on PEER_CPU, bounded in time.
peer() {
    ip netns exec "$NS" taskset -c "$PEER_CPU" timeout 180 "$@"
}

# Starts a server (ours: TUN offloads on, the default; nooff: ours with --offload off;
# smoltcp) at MTU $2 with per-connection buffers of $3 bytes (default 256 KiB) in a fresh
# namespace ($NS), on STACK_CPU; its pid goes to $SERVER. Waits until it answers HTTP.
server_start() {
    local kind="$1" mtu="$2" buf="${3:-262144}"
    ns_new
    local out="$tmp/server-$seq_no.log"
    case "$kind" in
    ours | nooff)
        local off=on
        [[ "$kind" == nooff ]] && off=off
        # shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
        ip netns exec "$NS" taskset -c "$STACK_CPU" "$bin/tuntcp" serve --mtu "$mtu" \
            --offload "$off" --rmem "$buf" --wmem "$buf" \
            --control "$tmp/ctl-$seq_no.sock" $SERVE_ARGS >"$out" 2>&1 &
        ;;
    smoltcp)
        ip netns exec "$NS" taskset -c "$STACK_CPU" "$ex/smoltcp_server" --mtu "$mtu" \
            --buffer "$buf" >"$out" 2>&1 &
        ;;
    dev-ours | dev-tunrs)
        ip netns exec "$NS" taskset -c "$STACK_CPU" "$ex/device_compare" "${kind#dev-}" \
            --mtu "$mtu" >"$out" 2>&1 &
        ;;
    esac
    SERVER=$!
    pids+=("$SERVER")
    wait_http "server $kind (mtu $mtu)" "$out"
}

# Waits until $SERVER answers HTTP from $NS; exits with its log ($2) if it dies or times out.
wait_http() {
    local i
    for i in $(seq 100); do
        if ip netns exec "$NS" curl -s -m 1 -o /dev/null http://10.66.0.2/bytes/1 2>/dev/null; then
            return 0
        fi
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.1
    done
    log "$1 did not come up:"
    cat "$2" >&2
    exit 1
}

# Waits until $SERVER answers HTTP over IPv6 too (the kernel's fd66::1 is usable at once:
# the TUN has DAD off).
wait_v6() {
    local i
    for i in $(seq 50); do
        ip netns exec "$NS" curl -g -s -m 1 -o /dev/null "http://$HOST6/bytes/1" 2>/dev/null &&
            return 0
        sleep 0.1
    done
    log "server does not answer over IPv6"
    exit 1
}

server_stop() {
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    ns_del "$NS"
}

# The kernel<->kernel reference for short connections and latency: kernel_http (our HTTP
# code on kernel sockets, one mio thread) in one namespace of a veth pair, on STACK_CPU; the
# other namespace ($NS) is the peer's, with the stack's address (10.66.0.2) on the server
# side so the ab commands stay the same. Its pid goes to $SERVER.
kernel_start() {
    ns_new
    KERNEL_NS="$NS"
    ns_new
    local out="$tmp/server-$seq_no.log"
    ip link add vk-a netns "$KERNEL_NS" type veth peer name vk-b netns "$NS"
    ip -n "$KERNEL_NS" addr add 10.66.0.2/24 dev vk-a
    ip -n "$NS" addr add 10.66.0.1/24 dev vk-b
    ip -n "$KERNEL_NS" link set vk-a up
    ip -n "$NS" link set vk-b up
    ip netns exec "$KERNEL_NS" taskset -c "$STACK_CPU" "$ex/kernel_http" --addr 10.66.0.2:80 \
        >"$out" 2>&1 &
    SERVER=$!
    pids+=("$SERVER")
    wait_http kernel_http "$out"
}

kernel_stop() {
    server_stop
    ns_del "$KERNEL_NS"
}

record() { # key value
    printf '%s\t%s\n' "$1" "$2" >>"$results"
    log "  $1 = $2"
}

# Records what short_conns left in $tmp/conns-extra under keys ending in $1.
record_conns_extra() {
    local peer stack pin pout
    read -r peer stack pin pout <"$tmp/conns-extra"
    record "peercpu.$1" "$peer"
    record "stackcpu.$1" "$stack"
    record "pktin.$1" "$pin"
    record "pktout.$1" "$pout"
}

# --- workloads (each prints one number) -----------------------------------------------------
# HOST is the server's address as a URL host: IPv4 (10.66.0.2) unless the v6 group sets
# the IPv6 one ([fd66::2]; the kernel side of the TUN has fd66::1/64).
HOST=10.66.0.2
HOST4=10.66.0.2
HOST6='[fd66::2]'

# Stack -> kernel: curl downloads $BYTES from /zeros/N (both servers send zeros: the body
# costs nothing to make, so this measures the stack, like iperf3's repeated buffer); Gbit/s.
bulk_s2k() {
    local r
    r=$(peer curl -g -s -o /dev/null -w '%{size_download} %{time_total}' "http://$HOST/zeros/$BYTES")
    read -r size secs <<<"$r"
    [[ "$size" == "$BYTES" ]] || { log "short download: $size of $BYTES"; echo nan; return; }
    python3 -c "print(f'{$size*8/$secs/1e9:.3f}')"
}

# Kernel -> stack: socat sends $BYTES of zeros to discard (port 9); linger makes the close
# wait until the stack has acknowledged everything. Gbit/s.
bulk_k2s() {
    local t0 t1
    t0=$(date +%s.%N)
    peer socat -u -b 262144 "OPEN:/dev/zero,readbytes=$BYTES" \
        "TCP:$HOST:9,linger=60" || { echo nan; return; }
    t1=$(date +%s.%N)
    python3 -c "print(f'{$BYTES*8/($t1-$t0)/1e9:.3f}')"
}

# CPU $1's busy and total ticks from /proc/stat ("busy total").
cpu_ticks() {
    awk -v c="cpu$1" '$1 == c {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t}' /proc/stat
}

# Packets through the device $1 in $NS since the last call: "in out" from the stack's side
# (the kernel's tx is what the stack reads, its rx what the stack writes).
dev_packets() {
    ip netns exec "$NS" cat "/sys/class/net/$1/statistics/tx_packets" \
        "/sys/class/net/$1/statistics/rx_packets" | tr '\n' ' '
}

# Short connections: ab without keep-alive (connect, GET /bytes/100, close); requests/s.
# Also leaves in $tmp/conns-extra: the peer's and the stack's CPU busy % during the run, and
# the packets the stack's side of device $2 received and sent per connection (the TCP
# minimum for this exchange is 4 in and 3 out), to show what bounds the rate.
short_conns() {
    local c="$1" dev="$2" out p0 p1 s0 s1 d0 d1
    read -r -a p0 <<<"$(cpu_ticks "$PEER_CPU")"
    read -r -a s0 <<<"$(cpu_ticks "$STACK_CPU")"
    read -r -a d0 <<<"$(dev_packets "$dev")"
    out=$(peer ab -q -r -s 10 -t 60 -n "$CONNS" -c "$c" "http://$HOST/bytes/100" 2>&1) || true
    read -r -a p1 <<<"$(cpu_ticks "$PEER_CPU")"
    read -r -a s1 <<<"$(cpu_ticks "$STACK_CPU")"
    read -r -a d1 <<<"$(dev_packets "$dev")"
    python3 -c "print(f'{100*($((p1[0]-p0[0])))/max($((p1[1]-p0[1])),1):.0f} \
{100*($((s1[0]-s0[0])))/max($((s1[1]-s0[1])),1):.0f} \
{($((d1[0]-d0[0])))/$CONNS:.2f} {($((d1[1]-d0[1])))/$CONNS:.2f}')" >"$tmp/conns-extra"
    local failed done rps
    failed=$(awk '/^Failed requests:/ {print $3}' <<<"$out")
    done=$(awk '/^Complete requests:/ {print $3}' <<<"$out")
    rps=$(awk '/^Requests per second:/ {print $4}' <<<"$out")
    if [[ -z "$rps" || "$done" != "$CONNS" || "${failed:-1}" != 0 ]]; then
        log "ab -c $c: complete ${done:-?} failed ${failed:-?}"
        grep -iE 'error|fail|timeout|reset' <<<"$out" | head -3 >&2 || true
    fi
    echo "${rps:-nan}"
}

# Request/response latency on one keep-alive connection: ab -k -c 1; p50 and p99 in us.
latency() {
    local csv="$tmp/lat-$seq_no.csv" out
    out=$(peer ab -q -k -s 10 -t 60 -n "$LAT_N" -c 1 -e "$csv" "http://$HOST/bytes/100" 2>&1) ||
        true
    local keep
    keep=$(awk '/^Keep-Alive requests:/ {print $3}' <<<"$out")
    [[ "${keep:-0}" == "$LAT_N" ]] || log "ab -k: only ${keep:-0} of $LAT_N requests kept alive"
    awk -F, '$1 == 50 {p50 = $2 * 1000} $1 == 99 {p99 = $2 * 1000} END {printf "%.0f %.0f\n", p50, p99}' "$csv"
}

# --- the runs -------------------------------------------------------------------------------
date_s="$(date -u '+%Y-%m-%d %H:%M UTC')"
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml benches 2>/dev/null || echo '+dirty')"
log "tuntcp bench: $RUNS runs, bulk $BYTES bytes, $CONNS short connections, $LAT_N keep-alive requests"


for run in $(seq "$RUNS"); do
    log "== run $run/$RUNS"
    # Alternate which stack goes first, so slow drift on a shared machine hits both.
    if ((run % 2)); then order=(ours smoltcp); else order=(smoltcp ours); fi
    if ! skip bulk; then
        for mtu in 1500 65000; do
            for buf in 262144 1048576; do
                for kind in "${order[@]}" nooff; do
                    server_start "$kind" "$mtu" "$buf"
                    record "s2k.$mtu.$buf.$kind" "$(bulk_s2k)"
                    record "k2s.$mtu.$buf.$kind" "$(bulk_k2s)"
                    server_stop
                done
            done
        done
    fi
    if ! skip device; then
        # The same stack and socket-API servers on our device and on tun-rs's (offloads on).
        for kind in dev-ours dev-tunrs; do
            server_start "$kind" 1500
            record "s2k.$kind" "$(bulk_s2k)"
            record "k2s.$kind" "$(bulk_k2s)"
            server_stop
        done
    fi
    if ! skip conns; then
        for c in 1 4 16; do
            for kind in "${order[@]}"; do
                server_start "$kind" 1500
                record "conns.$c.$kind" "$(short_conns "$c" tun0)"
                record_conns_extra "$c.$kind"
                server_stop
            done
            kernel_start
            record "conns.$c.kernel" "$(short_conns "$c" vk-b)"
            record_conns_extra "$c.kernel"
            kernel_stop
        done
    fi
    if ! skip lat; then
        for kind in "${order[@]}"; do
            server_start "$kind" 1500
            read -r p50 p99 <<<"$(latency)"
            record "lat50.$kind" "$p50"
            record "lat99.$kind" "$p99"
            server_stop
        done
        kernel_start
        read -r p50 p99 <<<"$(latency)"
        record "lat50.kernel" "$p50"
        record "lat99.kernel" "$p99"
        kernel_stop
    fi
    if ! skip v6; then
        # IPv4 and IPv6 on the same tuntcp server, in pairs (see the top of this file).
        # pair_fams PAIR sets fams to the pair's order.
        pair_fams() { if (((run + $1) % 2)); then fams=(4 6); else fams=(6 4); fi; }
        use_fam() { if [[ $1 == 4 ]]; then HOST=$HOST4; else HOST=$HOST6; fi; }
        for cfg in "ours 1500 262144" "nooff 1500 262144" "ours 65000 1048576"; do
            read -r kind mtu buf <<<"$cfg"
            server_start "$kind" "$mtu" "$buf"
            wait_v6
            for pair in $(seq "$V6_PAIRS"); do
                pair_fams "$pair"
                for f in "${fams[@]}"; do
                    use_fam "$f"
                    record "v6s2k.$mtu.$buf.$kind.$f" "$(bulk_s2k)"
                done
                for f in "${fams[@]}"; do
                    use_fam "$f"
                    record "v6k2s.$mtu.$buf.$kind.$f" "$(bulk_k2s)"
                done
            done
            server_stop
        done
        for c in 1 4 16; do
            server_start ours 1500
            wait_v6
            for pair in $(seq "$V6_PAIRS"); do
                pair_fams "$pair"
                for f in "${fams[@]}"; do
                    use_fam "$f"
                    record "v6conns.$c.$f" "$(short_conns "$c" tun0)"
                    record_conns_extra "v6.$c.$f"
                done
            done
            server_stop
        done
        server_start ours 1500
        wait_v6
        for pair in $(seq "$V6_PAIRS"); do
            pair_fams "$pair"
            for f in "${fams[@]}"; do
                use_fam "$f"
                read -r p50 p99 <<<"$(latency)"
                record "v6lat50.$f" "$p50"
                record "v6lat99.$f" "$p99"
            done
        done
        server_stop
        HOST=$HOST4
    fi
    if ! skip raw; then
        # tun_raw pins itself: the TUN side on CPU 0, its kernel UDP sender (read) on CPU 1.
        for mtu in 1500 65000; do
            count=$((mtu == 1500 ? 2000000 : 200000))
            for mode in write read; do
                ns_new
                r=$(ip netns exec "$NS" timeout 60 "$ex/tun_raw" "$mode" --mtu "$mtu" \
                    --count "$count" --secs 5)
                ns_del "$NS"
                record "raw.$mode.$mtu.pps" "$(sed -n 's/.*pps=\([0-9.]*\).*/\1/p' <<<"$r")"
                record "raw.$mode.$mtu" "$(sed -n 's/.*gbps=\([0-9.]*\).*/\1/p' <<<"$r")"
            done
        done
    fi
    if ! skip veth; then
        # Kernel <-> kernel: iperf3 over a veth pair between two namespaces (offloads on).
        for mtu in 1500 65000; do
            ns_new
            a="$NS"
            ns_new
            b="$NS"
            ip link add vb-a netns "$a" mtu "$mtu" type veth peer name vb-b netns "$b" mtu "$mtu"
            ip -n "$a" addr add 10.77.0.1/24 dev vb-a
            ip -n "$b" addr add 10.77.0.2/24 dev vb-b
            ip -n "$a" link set vb-a up
            ip -n "$b" link set vb-b up
            ip netns exec "$b" taskset -c "$PEER_CPU" timeout 60 iperf3 -s -1 -B 10.77.0.2 \
                >/dev/null 2>&1 &
            iperf_pid=$!
            pids+=("$iperf_pid")
            for _ in $(seq 50); do
                ip netns exec "$b" ss -ltn | grep ':5201' >/dev/null && break
                sleep 0.1
            done
            r=$(ip netns exec "$a" taskset -c "$STACK_CPU" timeout 60 iperf3 -c 10.77.0.2 \
                -n "$BYTES" -J | python3 -c \
                'import json,sys; bps = json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]; print("%.3f" % (bps / 1e9))') ||
                r=nan
            wait "$iperf_pid" 2>/dev/null || true
            ns_del "$a"
            ns_del "$b"
            record "veth.$mtu" "$r"
        done
    fi
done

# Top 5 functions by self instructions in callgrind_annotate's output ("file:function
# [object]" lines), summed over the source files that inlined code is attributed to.
top5() {
    python3 - "$1" <<'EOF'
import re, sys
from collections import Counter
tot, by = 0, Counter()
for line in open(sys.argv[1]):
    m = re.match(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
    if not m:
        continue
    ir, name = int(m.group(1).replace(",", "")), m.group(2)
    if name == "PROGRAM TOTALS":
        tot = ir
        continue
    name = re.sub(r" \[[^]]*\]$", "", name)
    path, sep, func = name.partition(":")
    if sep and not func.startswith(":"):
        name = func
    by[name] += ir
for name, ir in by.most_common(5):
    print(f"{ir:>12,} {100 * ir / max(tot, 1):5.1f}%  {name}")
EOF
}

# --- CPU cost per byte (callgrind, deterministic: once) ---------------------------------------
if ! skip sim; then
    log "== callgrind: $SIM_BYTES bytes between two stacks in memory"
    for kind in ours smoltcp; do
        for n in 0 "$SIM_BYTES"; do
            valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$kind.$n" \
                "$ex/sim_cost" "$kind" "$n" >"$tmp/cg.$kind.$n.out" 2>"$tmp/cg.$kind.$n.log"
        done
        out="$(cat "$tmp/cg.$kind.$SIM_BYTES.out")"
        record "simpk.ab.$kind" "$(sed -n 's/.*packets_a_to_b=\([0-9]*\).*/\1/p' <<<"$out")"
        record "simpk.ba.$kind" "$(sed -n 's/.*packets_b_to_a=\([0-9]*\).*/\1/p' <<<"$out")"
        ir0=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cg.$kind.0")
        ir1=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cg.$kind.$SIM_BYTES")
        record "sim.$kind" "$(python3 -c "print(f'{($ir1-$ir0)/$SIM_BYTES:.2f}')")"
    done
    # The same transfer between two of ours over IPv6 (skip v6 to leave it out).
    if ! skip v6; then
        for n in 0 "$SIM_BYTES"; do
            valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.ours6.$n" \
                "$ex/sim_cost" ours6 "$n" >"$tmp/cg.ours6.$n.out" 2>"$tmp/cg.ours6.$n.log"
        done
        ir0=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cg.ours6.0")
        ir1=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cg.ours6.$SIM_BYTES")
        record "sim6.ours" "$(python3 -c "print(f'{($ir1-$ir0)/$SIM_BYTES:.2f}')")"
    fi
    # Short connections: the server's cost per ab-like connection against a scripted client
    # (sim_conns), 16 at a time.
    log "== callgrind: $SIM_CONNS short connections against each server"
    for kind in ours smoltcp; do
        for n in 0 "$SIM_CONNS"; do
            valgrind --tool=callgrind --callgrind-out-file="$tmp/cgc.$kind.$n" \
                "$ex/sim_conns" "$kind" "$n" 16 >"$tmp/cgc.$kind.$n.out" 2>"$tmp/cgc.$kind.$n.log"
        done
        ir0=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cgc.$kind.0")
        ir1=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cgc.$kind.$SIM_CONNS")
        record "simconn.$kind" "$(python3 -c "print(f'{($ir1-$ir0)/$SIM_CONNS:.0f}')")"
    done
    if ! skip v6; then
        for n in 0 "$SIM_CONNS"; do
            valgrind --tool=callgrind --callgrind-out-file="$tmp/cgc.ours6.$n" \
                "$ex/sim_conns" ours6 "$n" 16 >"$tmp/cgc.ours6.$n.out" 2>"$tmp/cgc.ours6.$n.log"
        done
        ir0=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cgc.ours6.0")
        ir1=$(awk '/^(summary|totals):/ {print $2; exit}' "$tmp/cgc.ours6.$SIM_CONNS")
        record "simconn6.ours" "$(python3 -c "print(f'{($ir1-$ir0)/$SIM_CONNS:.0f}')")"
    fi
    for kind in ours smoltcp; do
        callgrind_annotate --auto=no --threshold=100 "$tmp/cg.$kind.$SIM_BYTES" >"$tmp/annotate.$kind" 2>/dev/null || true
        top5 "$tmp/annotate.$kind" >"$tmp/top5.$kind"
    done
fi

# --- the table --------------------------------------------------------------------------------
cat <<EOF

## tuntcp benchmark, $date_s

- Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), kernel $(uname -r)
- Commit: $commit (branch $(git rev-parse --abbrev-ref HEAD))
- Runs: $RUNS; each figure is median [min-max]; "ratio" is the ratio of medians, with the
  range of the per-run ratios (each run measures both sides back to back, alternating order)
- Stack on CPU $STACK_CPU, kernel peer on CPU $PEER_CPU (taskset); one fresh namespace per measurement
- Per-connection buffers: 256 KiB (our default) unless a row says 1 MiB; the same for both
  (\`tuntcp serve --rmem B --wmem B\`, \`smoltcp_server --buffer B\`). Short connections and
  latency use 256 KiB.
- "tuntcp" is the default (TUN offloads on: IFF_VNET_HDR, checksum offload, TSO/GSO
  super-segments both ways); "tuntcp, offloads off" is \`--offload off\`: one MTU-sized packet
  per read/write, like smoltcp.

EOF
python3 - "$results" "$RUNS" "$BYTES" "$CONNS" "$LAT_N" "$SIM_BYTES" <<'EOF'
import sys, statistics
from collections import defaultdict
path, runs, nbytes, conns, lat_n, sim_bytes = sys.argv[1], *map(int, sys.argv[2:])
vals = defaultdict(list)
for line in open(path):
    k, v = line.rstrip("\n").split("\t")
    try:
        x = float(v)
    except ValueError:
        x = float("nan")
    vals[k].append(x)

def ok(xs): return [x for x in xs if x == x]
def med(k):
    xs = ok(vals.get(k, []))
    return statistics.median(xs) if xs else None
def fmt(x, d=2):
    return "n/a" if x is None else f"{x:,.{d}f}"
def cell(k, d=2):
    xs = ok(vals.get(k, []))
    if not xs: return "n/a"
    bad = len(vals[k]) - len(xs)
    s = f"{fmt(statistics.median(xs), d)} [{fmt(min(xs), d)}-{fmt(max(xs), d)}]"
    return s + (f" ({bad} failed)" if bad else "")
def ratio(a, b, lower_better=False):
    """Ratio of medians a/b (b/a if lower is better) and the range of per-run ratios."""
    ma, mb = med(a), med(b)
    if ma is None or mb is None or mb == 0 or ma == 0: return None, "n/a"
    r = mb / ma if lower_better else ma / mb
    pr = [(y / x if lower_better else x / y) for x, y in zip(vals[a], vals[b])
          if x == x and y == y and x and y]
    rng = f" [{min(pr):.2f}-{max(pr):.2f}]" if len(pr) > 1 else ""
    return r, f"{r:.2f}x{rng}"
def verdict(r, target):
    if r is None: return "n/a"
    return f"{'met' if r >= target else 'NOT met'} ({r/target*100:.0f}% of target)"

gb = nbytes / 2**30
size = f"{gb:g} GiB" if nbytes >= 2**30 else f"{nbytes/2**20:g} MiB"
print("### Throughput and rates (higher is better)\n")
print("| workload | tuntcp | smoltcp 0.14 | tuntcp/smoltcp | reference (same run) | tuntcp/reference | target | status |")
print("|---|---|---|---|---|---|---|---|")
rows = []
def row(name, ours, smol, unit, d=2, ref=None, refname="", target_smol=None, target_ref=None):
    r, rs = ratio(ours, smol)
    rr, rrs = ratio(ours, ref) if ref else (None, "")
    tgt, st = [], []
    if target_smol:
        tgt.append(f">= {target_smol}x smoltcp"); st.append(verdict(r, target_smol))
    if target_ref:
        tgt.append(f">= {target_ref*100:.0f}% of {refname}"); st.append(verdict(rr, target_ref))
    print(f"| {name} ({unit}) | {cell(ours, d)} | {cell(smol, d)} | {rs} | "
          f"{(refname + ': ' + cell(ref, d)) if ref else ''} | {rrs} | {'; '.join(tgt)} | {'; '.join(st)} |")
for buf, bname in ((262144, "256 KiB"), (1048576, "1 MiB")):
    for kind, kname in (("ours", ""), ("nooff", ", offloads off")):
        for mtu in (1500, 65000):
            big = mtu == 65000
            row(f"stack->kernel, MTU {mtu}, {bname}{kname}, {size}",
                f"s2k.{mtu}.{buf}.{kind}", f"s2k.{mtu}.{buf}.smoltcp", "Gbit/s",
                ref=f"raw.write.{mtu}", refname="raw TUN write",
                target_smol=(1.2 if buf == 1048576 else None) if big else 2,
                target_ref=None if big else 0.8)
            row(f"kernel->stack, MTU {mtu}, {bname}{kname}, {size}",
                f"k2s.{mtu}.{buf}.{kind}", f"k2s.{mtu}.{buf}.smoltcp", "Gbit/s",
                ref=f"raw.read.{mtu}", refname="raw TUN read",
                target_smol=(1.2 if buf == 1048576 else None) if big else 1,
                target_ref=None if big else 0.9)
for c in (1, 4, 16):
    row(f"short connections, -c {c}, {conns} conns", f"conns.{c}.ours", f"conns.{c}.smoltcp",
        "conn/s", d=0, ref=f"conns.{c}.kernel", refname="kernel<->kernel over veth",
        target_smol=2)

print("\n### What bounds short connections (same runs as above; medians)\n")
print("CPU busy is the share of the CPU's time not idle during the `ab` run (/proc/stat); the "
      "stack busy-polls 50 us after traffic, so its CPU shows busy even when it waits. "
      "Packets are counted on the device from the stack's side (the kernel's veth for "
      "kernel<->kernel); 4 in and 3 out is the TCP minimum for connect, GET, response+FIN, close.\n")
print("| clients | server | conn/s | peer CPU busy (%) | stack CPU busy (%) | packets in / out per connection |")
print("|---|---|---|---|---|---|")
for c in (1, 4, 16):
    for kind, kname in (("ours", "tuntcp"), ("smoltcp", "smoltcp 0.14"), ("kernel", "kernel over veth")):
        k = f"{c}.{kind}"
        print(f"| {c} | {kname} | {fmt(med('conns.' + k), 0)} | {fmt(med('peercpu.' + k), 0)} | "
              f"{fmt(med('stackcpu.' + k), 0)} | {fmt(med('pktin.' + k))} / {fmt(med('pktout.' + k))} |")

print("\n### TUN device: ours against tun-rs (same stack, socket-API servers, MTU 1500, offloads on)\n")
print("| direction | our device (Gbit/s) | tun-rs 2.8 (Gbit/s) | ours/tun-rs |")
print("|---|---|---|---|")
for d, name in (("s2k", "stack->kernel"), ("k2s", "kernel->stack")):
    r, rs = ratio(f"{d}.dev-ours", f"{d}.dev-tunrs")
    print(f"| {name} | {cell(f'{d}.dev-ours')} | {cell(f'{d}.dev-tunrs')} | {rs} |")

print("\n### Latency on one keep-alive connection (ab -k -c 1, GET /bytes/100, "
      f"{lat_n} requests; lower is better)\n")
print("| percentile | tuntcp (us) | smoltcp 0.14 (us) | smoltcp/tuntcp | kernel<->kernel over veth (us) |")
print("|---|---|---|---|---|")
for p in (50, 99):
    r, rs = ratio(f"lat{p}.ours", f"lat{p}.smoltcp", lower_better=True)
    print(f"| p{p} | {cell(f'lat{p}.ours', 0)} | {cell(f'lat{p}.smoltcp', 0)} | {rs} | "
          f"{cell(f'lat{p}.kernel', 0)} |")

if any(k.startswith("v6") for k in vals):
    print("\n### IPv6 against IPv4 (tuntcp, the same server for both families, in pairs one "
          "right after the other, which goes first alternating; median [min-max] over all "
          "pairs, ratio of medians [range of per-pair ratios]; goal: IPv6 within 5% of IPv4)\n")
    print("| workload | IPv4 | IPv6 | IPv6 against IPv4 (IPv6/IPv4, IPv4/IPv6 where lower is better) | status |")
    print("|---|---|---|---|---|")
    def row6(name, k4, k6, unit, d=2, lower_better=False):
        r, rs = ratio(k6, k4, lower_better)
        st = "n/a" if r is None else ("met" if r >= 0.95 else "NOT met")
        print(f"| {name} ({unit}) | {cell(k4, d)} | {cell(k6, d)} | {rs} | {st} |")
    for kind, mtu, buf, what in (("ours", 1500, 262144, "MTU 1500, 256 KiB"),
                                 ("nooff", 1500, 262144, "MTU 1500, 256 KiB, offloads off"),
                                 ("ours", 65000, 1048576, "MTU 65000, 1 MiB")):
        for d, dname in (("s2k", "stack->kernel"), ("k2s", "kernel->stack")):
            k = f"v6{d}.{mtu}.{buf}.{kind}"
            row6(f"{dname}, {what}, {size}", k + ".4", k + ".6", "Gbit/s")
    for c in (1, 4, 16):
        row6(f"short connections, -c {c}, {conns} conns", f"v6conns.{c}.4", f"v6conns.{c}.6",
             "conn/s", d=0)
    for p in (50, 99):
        row6(f"keep-alive latency p{p}", f"v6lat{p}.4", f"v6lat{p}.6", "us", d=0,
             lower_better=True)
    if med("sim6.ours") is not None:
        row6(f"callgrind, {sim_bytes/2**20:g} MiB A->B, both ends", "sim.ours", "sim6.ours",
             "instructions/byte, lower is better", lower_better=True)
    if med("simconn6.ours") is not None:
        row6("callgrind, one short connection (sim_conns, 16 at a time)", "simconn.ours",
             "simconn6.ours", "instructions/connection, lower is better", d=0,
             lower_better=True)
    print("\nShort connections, what bounds them (medians): packets in / out per connection, "
          "stack CPU busy (%)\n")
    print("| clients | IPv4 | IPv6 |")
    print("|---|---|---|")
    for c in (1, 4, 16):
        cells = [f"{fmt(med(f'pktin.v6.{c}.{f}'))} / {fmt(med(f'pktout.v6.{c}.{f}'))}, "
                 f"{fmt(med(f'stackcpu.v6.{c}.{f}'), 0)}%" for f in (4, 6)]
        print(f"| {c} | {cells[0]} | {cells[1]} |")

print("\n### References\n")
print("| reference | median [min-max] |")
print("|---|---|")
for mtu in (1500, 65000):
    for mode, what in (("write", "we write, kernel drops at UDP"), ("read", "kernel UDP sender, we read")):
        print(f"| raw TUN {mode}, MTU {mtu} ({what}) | {cell(f'raw.{mode}.{mtu}')} Gbit/s, "
              f"{cell(f'raw.{mode}.{mtu}.pps', 0)} packets/s |")
for mtu in (1500, 65000):
    print(f"| kernel<->kernel over veth, MTU {mtu}, iperf3 {size} (offloads on) | {cell(f'veth.{mtu}')} Gbit/s |")

print("\n### CPU cost in the simulator (callgrind, deterministic, one run; lower is better)\n")
print("| transfer | tuntcp | smoltcp 0.14 | smoltcp/tuntcp | target | status |")
print("|---|---|---|---|---|---|")
r, rs = ratio("sim.ours", "sim.smoltcp", lower_better=True)
print(f"| {sim_bytes/2**20:g} MiB A->B, both ends, instructions/byte | {cell('sim.ours')} | "
      f"{cell('sim.smoltcp')} | {rs} | <= smoltcp | {verdict(r, 1)} |")
r, rs = ratio("simconn.ours", "simconn.smoltcp", lower_better=True)
print(f"| one short connection (sim_conns, 16 at a time), server and scripted client, instructions/connection | "
      f"{cell('simconn.ours', 0)} | {cell('simconn.smoltcp', 0)} | {rs} | | |")
print(f"| packets A->B (data) / B->A (ACKs) | {fmt(med('simpk.ab.ours'), 0)} / {fmt(med('simpk.ba.ours'), 0)} | "
      f"{fmt(med('simpk.ab.smoltcp'), 0)} / {fmt(med('simpk.ba.smoltcp'), 0)} | | | |")
EOF
for kind in ours smoltcp; do
    if [[ -s "$tmp/top5.$kind" ]]; then
        printf '\nTop 5 functions by instructions (self), %s, callgrind on sim_cost %s %s:\n\n```\n' \
            "$kind" "$kind" "$SIM_BYTES"
        cat "$tmp/top5.$kind"
        printf '```\n'
    fi
done
cat <<EOF

### Commands (kernel side in the namespace, on CPU $PEER_CPU; server on CPU $STACK_CPU)

\`\`\`
tuntcp:  taskset -c $STACK_CPU target/release/tuntcp serve --mtu {1500,65000} [--offload off] --rmem B --wmem B --control \$TMP/ctl.sock ${SERVE_ARGS}
smoltcp: taskset -c $STACK_CPU target/release/examples/smoltcp_server --mtu {1500,65000} --buffer B   (B = 262144 or 1048576; 64 HTTP sockets)
stack->kernel: curl -s -o /dev/null -w '%{size_download} %{time_total}' http://10.66.0.2/zeros/$BYTES
kernel->stack: socat -u -b 262144 OPEN:/dev/zero,readbytes=$BYTES TCP:10.66.0.2:9,linger=60   (wall time)
short conns:   ab -q -r -s 10 -t 60 -n $CONNS -c {1,4,16} http://10.66.0.2/bytes/100
latency:       ab -q -k -s 10 -t 60 -n $LAT_N -c 1 -e lat.csv http://10.66.0.2/bytes/100
kernel ref:    taskset -c $STACK_CPU target/release/examples/kernel_http --addr 10.66.0.2:80, over a veth
               pair between two namespaces (ab and latency as above, from the other one)
raw TUN:       target/release/examples/tun_raw {write,read} --mtu {1500,65000} --count {2000000,200000} --secs 5
veth:          iperf3 -s -1 -B 10.77.0.2 (CPU $PEER_CPU)  /  iperf3 -c 10.77.0.2 -n $BYTES -J (CPU $STACK_CPU)
IPv6 rows:     the same commands with http://[fd66::2]/... (curl -g) and TCP:[fd66::2]:9, on the
               same server right before or after the IPv4 ones; sim_cost/sim_conns ours6
callgrind:     valgrind --tool=callgrind target/release/examples/sim_cost {ours,smoltcp} {0,$SIM_BYTES}
               instructions/byte = (Ir($SIM_BYTES) - Ir(0)) / $SIM_BYTES
               valgrind --tool=callgrind target/release/examples/sim_conns {ours,smoltcp} {0,$SIM_CONNS} 16
               instructions/connection = (Ir($SIM_CONNS) - Ir(0)) / $SIM_CONNS
\`\`\`
EOF
