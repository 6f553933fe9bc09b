#!/usr/bin/env bash
# Runs a command next to the stack, inside a fresh network namespace that is removed
# afterwards (also on failure or Ctrl-C). Nothing touches the host's network.
#
#   scripts/netns.sh [TUNTCP ARGS...] -- COMMAND [ARGS...]
#
# TUNTCP ARGS default to `serve`; the command runs in the namespace once the device (tun0,
# or the one named by --tun) is up with the --host address; if tuntcp exits first, its
# output is shown. E.g.
#   scripts/netns.sh -- curl -s http://10.66.0.2/          (as root; or prefix sudo)
#   scripts/netns.sh -v serve --pcap /tmp/s.pcap -- sh -c 'curl -s 10.66.0.2 >/dev/null'
#   scripts/netns.sh serve --tun foo0 -- tuntcp ss --tun foo0
# Env: TUNTCP_BIN (default target/release/tuntcp, built if missing), TUNTCP_LOG (the
# stack's stderr; default a temp file, printed at the end with -v).
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
while (($#)) && [[ "$1" != "--" ]]; do
    args+=("$1")
    shift
done
[[ "${1:-}" == "--" ]] && shift
(($#)) || { echo "usage: $0 [tuntcp args] -- command [args]" >&2; exit 2; }
((${#args[@]})) || args=(serve)

# The device and kernel-side address to wait for (--tun, --host).
dev=tun0
host=10.66.0.1
v6=on
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --tun) dev="${args[i + 1]:-tun0}" ;;
        --tun=*) dev="${args[i]#--tun=}" ;;
        --host) host="${args[i + 1]:-}" ;;
        --host=*) host="${args[i]#--host=}" ;;
        --addr6 | --host6) [[ "${args[i + 1]:-}" == off ]] && v6=off ;;
        --addr6=off | --host6=off) v6=off ;;
    esac
done
host="${host%%/*}"

bin="${TUNTCP_BIN:-target/release/tuntcp}"
if [[ ! -x "$bin" ]]; then
    echo "building tuntcp (release, first time ~1 min)..." >&2
    cargo build --release
fi
bin="$(realpath "$bin")"

ns="tuntcp-sh-$$"
log="${TUNTCP_LOG:-$(mktemp /tmp/tuntcp-XXXXXX.log)}"
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" "$bin" "${args[@]}" >"$log" 2>&1 &
pid=$!
up=""
for _ in $(seq 100); do
    ip netns exec "$ns" ip -4 addr show dev "$dev" up 2>/dev/null | grep -F "inet $host/" >/dev/null && { up=1; break; }
    kill -0 "$pid" 2>/dev/null || { echo "tuntcp exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.05
done
[[ -n "$up" ]] || { echo "$dev not up after 5 s; tuntcp said:" >&2; cat "$log" >&2; exit 1; }
# The kernel's IPv6 address follows the IPv4 one (unless --addr6/--host6 off): wait a
# moment for it, so `curl -g 'http://[fd66::2]/'` finds a route.
if [[ "$v6" == on ]]; then
    for _ in $(seq 40); do
        ip netns exec "$ns" ip -6 addr show dev "$dev" scope global 2>/dev/null | grep inet6 >/dev/null && break
        sleep 0.05
    done
fi
status=0
ip netns exec "$ns" "$@" || status=$?
sleep 0.2 # let the last FIN exchange reach the log
if [[ -z "${TUNTCP_LOG:-}" ]]; then
    if printf '%s\n' "${args[@]}" | grep -x -- '-v\|-vv' >/dev/null; then cat "$log"; fi
    rm -f "$log"
fi
exit "$status"
