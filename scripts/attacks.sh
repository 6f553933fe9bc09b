#!/usr/bin/env bash
# Measures attacks against `tuntcp serve` on a TUN and against a Linux server (a Python
# HTTP server on the kernel's TCP) over a veth pair, each in network namespaces created per
# attack and removed afterwards. A measurement, not a test: not run by scripts/test.sh.
#
#   scripts/attacks.sh [--secs S] [--count N] [--conns M] [--only a,b,...] [--no-linux]
#
# Per attack and target: answer packets the server sent (nft counter on the matching
# packets), server process CPU (utime+stime over the attack), VmRSS before/peak/after,
# socket memory peak (tuntcp `ss -s` mem; Linux: sum of ss -tm skmem r+w+o in the server
# namespace), a long rate-limited download running across the attack (the victim
# connection of the blind attacks) and fresh curls during it. Prints a markdown table.
# Needs root, python3, hping3, nft, curl. Logs in /tmp/tuntcp-attacks-PID/.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=10 count=100000 conns=500 only="" linux=1
while (($#)); do
    case "$1" in
        --secs) secs="$2"; shift ;;
        --count) count="$2"; shift ;;
        --conns) conns="$2"; shift ;;
        --only) only="$2"; shift ;;
        --no-linux) linux=0 ;;
        *) echo "usage: $0 [--secs S] [--count N] [--conns M] [--only a,b] [--no-linux]" >&2; exit 2 ;;
    esac
    shift
done
((EUID == 0)) || { echo "$0: needs root (network namespaces)" >&2; exit 1; }
for t in python3 hping3 nft curl ss; do
    command -v "$t" >/dev/null || { echo "$0: $t missing" >&2; exit 1; }
done
bin="$(realpath target/release/tuntcp)"
[[ -x "$bin" ]] || { echo "$0: build first: cargo build --release" >&2; exit 1; }
py="$(realpath scripts/attacks.py)"

attacks=(baseline blind_rst blind_syn blind_data blind_ts ack_unsent ooo_flood syn_flood
    sockstress urgent frag_overlap frag_flood icmp_forged conn_flood)
[[ -n "$only" ]] && IFS=, read -r -a attacks <<<"$only"

run=$$
logdir="/tmp/tuntcp-attacks-$run"
mkdir -p "$logdir"
hz=$(getconf CLK_TCK)
rate=4000000                       # long download: bytes/s (curl --limit-rate)
dlsize=$((rate * (secs + 6)))      # lasts ~4 s past the attack
namespaces=()
pids=()

cleanup() {
    local p n
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    for n in "${namespaces[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Socket memory in kB: tuntcp's accounted pages, or the sum of skmem r+w+o in the ns.
sock_kb() { # TARGET NS
    if [[ "$1" == tuntcp ]]; then
        ip netns exec "$2" "$bin" ss -s 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "mem") {print $(i + 1) * 4; exit}}'
    else
        ip netns exec "$2" ss -tmnH 2>/dev/null | grep -o 'skmem:([^)]*)' |
            awk -F'[(,)]' '{for (i = 2; i <= NF; i++) { v = $i; k = substr(v, 1, 1); n = substr(v, 2) + 0;
                if (v ~ /^(r|w|o)[0-9]/) s += n }} END {print int(s / 1024)}'
    fi
}

# The nft match (after `ip saddr SERVER`) for the packets that answer ATTACK.
answer_match() { # ATTACK VPORT NET
    case "$1" in
        baseline | blind_* | icmp_forged) echo "tcp dport $2 ip length < 100" ;;
        syn_flood) echo "ip daddr $3.99" ;;
        frag_*) echo "ip protocol icmp" ;;
        *) echo "tcp dport 20000-29999" ;;
    esac
}

# Sets up one target; sets: srv cli cns sns spid hook ifm url
setup() { # TARGET
    local tgt=$1 n
    if [[ "$tgt" == tuntcp ]]; then
        cns="tta-$run-$((k++))"; sns="$cns"
        ip netns add "$cns"; namespaces+=("$cns")
        ip netns exec "$cns" ip link set lo up
        ip netns exec "$cns" "$bin" serve >"$logdir/$attack.tuntcp.log" 2>&1 &
        spid=$!; pids+=("$spid")
        srv=10.66.0.2 cli=10.66.0.1 net=10.66.0 hook=prerouting ifm='iifname "tun0"'
        for n in $(seq 100); do
            ip netns exec "$cns" ip -4 addr show dev tun0 up 2>/dev/null | grep -F "inet $cli/" >/dev/null && break
            kill -0 "$spid" || { cat "$logdir/$attack.tuntcp.log" >&2; exit 1; }
            sleep 0.05
        done
    else
        cns="ttc-$run-$k"; sns="tts-$run-$((k++))"
        ip netns add "$cns"; namespaces+=("$cns")
        ip netns add "$sns"; namespaces+=("$sns")
        ip netns exec "$cns" ip link set lo up
        ip netns exec "$sns" ip link set lo up
        ip -n "$cns" link add vc0 type veth peer name vs0 netns "$sns"
        ip -n "$cns" addr add 10.77.0.1/24 dev vc0
        ip -n "$sns" addr add 10.77.0.2/24 dev vs0
        ip -n "$cns" link set vc0 up
        ip -n "$sns" link set vs0 up
        ip netns exec "$sns" python3 "$py" server 80 >"$logdir/$attack.linux.log" 2>&1 &
        spid=$!; pids+=("$spid")
        srv=10.77.0.2 cli=10.77.0.1 net=10.77.0 hook=output ifm='oifname "vs0"'
        for n in $(seq 100); do
            ip netns exec "$cns" curl -s -o /dev/null -m 1 "http://$srv/" && break
            sleep 0.1
        done
    fi
    url="http://$srv"
    # Our kernel answers the stack's packets to the raw connections (ports 20000-29999)
    # with RSTs: drop those (TTL 64; the raw packets have TTL 63).
    ip netns exec "$cns" nft -f - <<EOF
table ip atkc {
    chain out { type filter hook output priority 0; tcp sport 20000-29999 ip ttl 64 tcp flags & rst == rst drop; }
}
EOF
}

# One attack against one target (not in a subshell: cleanup must see its PIDs and
# namespaces); sets res to the row's cells: answers cpu rss(b/peak/a) sock curl dl
measure() { # TARGET ATTACK
    local tgt=$1 a=$2 dlpid vport="" c0 c1 r0 r1 rpeak=0 r s speak=0 apid ok=0 tot=0 tmax=0 out ans
    setup "$tgt"
    ip netns exec "$cns" curl -s -o /dev/null -w '%{exitcode} %{size_download} %{time_total}\n' \
        --limit-rate "$rate" -m $((secs + 40)) "$url/bytes/$dlsize" >"$logdir/$a.$tgt.dl" 2>&1 &
    dlpid=$!; pids+=("$dlpid")
    for _ in $(seq 50); do
        vport=$(ip netns exec "$cns" ss -tnH state established dst "$srv:80" | awk '{split($3, x, ":"); print x[2]; exit}' || true)
        [[ -n "$vport" ]] && break
        sleep 0.1
    done
    sleep 1
    ip netns exec "$sns" nft -f - <<EOF
table ip atks {
    counter ans { }
    chain c { type filter hook $hook priority 0; $ifm ip saddr $srv $(answer_match "$a" "${vport:-1}" "$net") counter name ans; }
}
EOF
    [[ "$tgt" == tuntcp ]] && ip netns exec "$sns" "$bin" nstat -a >"$logdir/$a.$tgt.nstat0" 2>&1 || true
    [[ "$tgt" == linux ]] && ip netns exec "$sns" nstat -a >"$logdir/$a.$tgt.nstat0" 2>&1 || true
    c0=$(cpu_ticks "$spid"); r0=$(rss_kb "$spid")
    case "$a" in
        baseline) sleep "$secs" & ;;
        syn_flood) timeout $((secs + 2)) ip netns exec "$cns" hping3 -q -S -p 80 -a "$net.99" \
            -i u$((secs * 1000000 / count)) -c "$count" "$srv" >"$logdir/$a.$tgt.atk" 2>&1 & ;;
        *)
            local dport=80
            [[ "$a" == urgent ]] && dport=9
            timeout $((secs + 20)) ip netns exec "$cns" python3 "$py" "$a" --src "$cli" --dst "$srv" \
                --dport "$dport" --vport "${vport:-1}" --count "$count" --secs "$secs" --conns "$conns" \
                >"$logdir/$a.$tgt.atk" 2>&1 & ;;
    esac
    apid=$!; pids+=("$apid")
    # During the attack: fresh curls, memory samples.
    while kill -0 "$apid" 2>/dev/null; do
        r=$(rss_kb "$spid"); ((r > rpeak)) && rpeak=$r
        s=$(sock_kb "$tgt" "$sns" || true); ((${s:-0} > speak)) && speak=$s
        out=$(ip netns exec "$cns" curl -s -o /dev/null -m 5 -w '%{exitcode} %{time_total}' "$url/" || true)
        tot=$((tot + 1))
        [[ "${out%% *}" == 0 ]] && ok=$((ok + 1))
        tmax=$(awk -v a="$tmax" -v b="${out#* }" 'BEGIN {printf "%.3f", (b + 0 > a + 0) ? b + 0 : a}')
        sleep 0.3
    done
    wait "$apid" 2>/dev/null || true
    c1=$(cpu_ticks "$spid")
    ans=$(ip netns exec "$sns" nft list counter ip atks ans 2>/dev/null | awk '/packets/ {print $2}' || true)
    wait "$dlpid" 2>/dev/null || true
    sleep 1
    r1=$(rss_kb "$spid")
    [[ "$tgt" == tuntcp ]] && ip netns exec "$sns" "$bin" nstat -a >"$logdir/$a.$tgt.nstat1" 2>&1 || true
    [[ "$tgt" == linux ]] && ip netns exec "$sns" nstat -a >"$logdir/$a.$tgt.nstat1" 2>&1 || true
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    ip netns del "$cns" 2>/dev/null || true
    [[ "$sns" != "$cns" ]] && { ip netns del "$sns" 2>/dev/null || true; }
    local dl
    read -r -a dl <"$logdir/$a.$tgt.dl" || dl=(? 0 0)
    local dlres
    if [[ "${dl[0]}" == 0 && "${dl[1]}" == "$dlsize" ]]; then dlres="dl ok ${dl[2]%.*}s"; else dlres="dl exit ${dl[0]} ${dl[1]}B"; fi
    ((rpeak < r1)) && rpeak=$r1
    printf -v res '%s | %s | %s/%s/%s | %s | %d/%d ok max %ss, %s' "${ans:-?}" \
        "$(awk -v t=$((c1 - c0)) -v h="$hz" 'BEGIN {printf "%.2f", t / h}')" \
        "$r0" "$rpeak" "$r1" "$speak" "$ok" "$tot" "$tmax" "$dlres"
}

knew() {
    case "$1" in
        baseline) echo "no attack: the download and curls alone" ;;
        blind_*) echo "4-tuple; SEQ/ACK random 32-bit" ;;
        icmp_forged) echo "4-tuple; quoted SEQ random" ;;
        syn_flood) echo "spoofed unowned source $2.99" ;;
        frag_*) echo "none needed" ;;
        *) echo "its own connections (all numbers)" ;;
    esac
}

k=0
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
hdr="| attack | attacker knew | tuntcp: answers | CPU s | RSS kB before/peak/after | sock kB peak | curls ok, dl |"
sep="| --- | --- | --- | --- | --- | --- | --- |"
if ((linux)); then
    hdr+=" Linux: answers | CPU s | RSS kB before/peak/after | sock kB peak | curls ok, dl |"
    sep+=" --- | --- | --- | --- | --- |"
fi
echo "attacks.sh $(date -u +%Y-%m-%d) commit $commit: --secs $secs --count $count --conns $conns (logs: $logdir)"
echo "$hdr"
echo "$sep"
for attack in "${attacks[@]}"; do
    measure tuntcp "$attack"
    row="| $attack | $(knew "$attack" "10.x.0") | $res |"
    if ((linux)); then measure linux "$attack"; row+=" $res |"; fi
    echo "$row"
    for f in "$logdir/$attack".*.atk; do [[ -f "$f" ]] && sed "s/^/  # $(basename "$f"): /" "$f" | tail -n 3 >&2; done
done
