#!/usr/bin/env bash
# Runs the Linux TCP packetdrill scripts (gtests/net/tcp/**/*.pkt, IPv4 variant) against
# tuntcp through the shared-object interface (`packetdrill --so_filename=LIB.so`): every
# script runs in virtual time against the sans-IO stack in packetdrill/ (the cdylib), with
# no TUN device and no kernel networking.
#
# Usage: scripts/packetdrill.sh [-s] [-v] [-h] [PATTERN]
#   PATTERN     extended regex matched against the script path relative to gtests/net/tcp
#               (e.g. `blocking/` or `close|shutdown`); default: every script
#   -s          strict: exit 1 when a script listed in tests/packetdrill/expected-pass.txt
#               fails, or (without PATTERN) when the scripts run are not exactly those of
#               tests/packetdrill/scripts.txt (also STRICT=1); without it the exit status is
#               0 whatever the results
#   -v          print packetdrill's whole output for each failure
#   PACKETDRILL=DIR  a google/packetdrill source tree (default: <repo>/../shared/packetdrill)
#   TIMEOUT=S   wall-clock limit per script in seconds (default 20)
#
# packetdrill is GPL v2 and stays outside the repository: its tree is copied to
# target/packetdrill/src and built there (the tree given is never modified). Building needs
# gcc, make, flex and bison (Debian: apt-get install gcc make flex bison).
#
# Safety: the scripts' shell commands (`../common/defaults.sh`, set_sysctls.py, sysctl, tc,
# ip, ethtool) would change the host's TCP settings. In the copy, defaults.sh and
# set_sysctls.py are replaced by stubs, sysctl/tc/ip/ethtool/nstat by stubs on PATH that
# only record the request, and each packetdrill runs in a fresh user and network namespace
# (`unshare --user --net`, as an unprivileged user), so a command that slips through can
# change neither this host's network settings nor any root-owned file.
#
# Skipped, with the reason in the table: Fast Open and zero-copy scripts ("feature"), IPv6
# only scripts (*v6.pkt: the stack is IPv4 only).
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

strict=${STRICT:-0}
verbose=0
while getopts ":svh" opt; do
    case $opt in
        s) strict=1 ;;
        v) verbose=1 ;;
        h) usage; exit 0 ;;
        *) echo "packetdrill.sh: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
pattern=${1:-}
timeout_s=${TIMEOUT:-20}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=${PACKETDRILL:-$root/../shared/packetdrill}
work=$root/target/packetdrill
expected=$root/tests/packetdrill/expected-pass.txt

die() { echo "packetdrill.sh: $*" >&2; exit 1; }

if [ ! -f "$src/gtests/net/packetdrill/packetdrill.h" ]; then
    die "no packetdrill source tree at $src (set PACKETDRILL=DIR to a google/packetdrill checkout)"
fi
missing=()
for tool in gcc make flex bison; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    die "building packetdrill needs: ${missing[*]} (Debian: apt-get install gcc make flex bison)"
fi
command -v unshare >/dev/null || die "needs unshare(1) (Debian: util-linux) to isolate the scripts"
command -v timeout >/dev/null || die "needs timeout(1) (Debian: coreutils)"
if ! unshare --user --net true 2>/dev/null; then
    die "unshare --user --net failed: user namespaces are needed to isolate the scripts"
fi

# ---- build packetdrill out of tree (rebuilt when the source tree changes) ----
# (this script is part of the stamp: it patches the copy)
stamp=$(cd "$src" && find gtests -type f \( -name '*.[chly]' -o -name 'Makefile*' -o -name configure \) \
    -printf '%P %s %T@\n' | sort | cat - "$root/scripts/packetdrill.sh" | md5sum | cut -d' ' -f1)
pd=$work/src/gtests/net/packetdrill/packetdrill
if [ ! -x "$pd" ] || [ "$(cat "$work/stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "packetdrill.sh: building packetdrill from $src in $work/src" >&2
    rm -rf "$work/src"
    mkdir -p "$work/src"
    cp -a "$src/." "$work/src/"
    chmod -R u+w "$work/src"
    # The one change to packetdrill: a script's %{ python }% block reads TCP_INFO with
    # the libc getsockopt on the live fd, which under --so_filename is not a kernel
    # socket; ask the library instead, as every other socket call in that mode does.
    sed -i 's|int result = getsockopt(fd, level, opt_name, data, &opt_len);|int result = state->so_instance ? state->so_instance->ifc.getsockopt(state->so_instance->ifc.userdata, fd, level, opt_name, data, \&opt_len) : getsockopt(fd, level, opt_name, data, \&opt_len); /* tuntcp */|' \
        "$work/src/gtests/net/packetdrill/code.c"
    grep -q 'tuntcp \*/' "$work/src/gtests/net/packetdrill/code.c" ||
        die "could not patch code.c (TCP_INFO through the library): packetdrill changed?"
    (cd "$work/src/gtests/net/packetdrill" && ./configure >/dev/null &&
        nice -n 10 make -j2 >"$work/build.log" 2>&1) ||
        die "building packetdrill failed: see $work/build.log"
    echo "$stamp" >"$work/stamp"
fi
tests=$work/src/gtests/net

# The stubs: what the scripts ask of the host is recorded, not done.
stubs=$work/stubs
mkdir -p "$stubs"
for cmd in sysctl tc ip ethtool nstat; do
    cat >"$stubs/$cmd" <<STUB
#!/bin/sh
# packetdrill.sh stub: records the request, changes nothing.
echo "$cmd \$*" >>"\${TUNTCP_PD_HOSTCMDS:-/dev/null}"
exit 0
STUB
    chmod +x "$stubs/$cmd"
done
# (tcp/common/defaults.sh is a symlink to common/defaults.sh upstream; a copy may hold
# the link's text instead, so both get the stub.)
for f in "$tests/common/defaults.sh" "$tests/tcp/common/defaults.sh"; do
    rm -f "$f"
    printf '#!/bin/sh\n# packetdrill.sh stub: the library applies its Linux profile itself.\nexit 0\n' >"$f"
    chmod +x "$f"
done
cat >"$tests/tcp/common/set_sysctls.py" <<'STUB'
#!/bin/sh
# packetdrill.sh stub: records the request and writes the no-op restore script the
# scripts run at their end.
echo "set_sysctls $*" >>"${TUNTCP_PD_HOSTCMDS:-/dev/null}"
printf '#!/bin/sh\nexit 0\n' >"/tmp/sysctl_restore_${PACKETDRILL_PID}.sh"
chmod +x "/tmp/sysctl_restore_${PACKETDRILL_PID}.sh"
echo "restore-script /tmp/sysctl_restore_${PACKETDRILL_PID}.sh" >>"${TUNTCP_PD_HOSTCMDS:-/dev/null}"
STUB
chmod +x "$tests/tcp/common/set_sysctls.py"

# ---- build the library ----
echo "packetdrill.sh: building the tuntcp packetdrill library (cargo build -p tuntcp-packetdrill)" >&2
(cd "$root" && nice -n 10 cargo build --release -p tuntcp-packetdrill --quiet) ||
    die "cargo build of the packetdrill library failed"
lib=$root/target/release/libtuntcp_packetdrill.so
[ -f "$lib" ] || die "no $lib after the build"

# ---- run ----
declare -A want_pass=()
if [ -f "$expected" ]; then
    while read -r line; do
        line=${line%%#*}
        line=${line//[[:space:]]/}
        [ -n "$line" ] && want_pass[$line]=1
    done <"$expected"
fi

skip_reason() {
    case $1 in
        fastopen/*) echo "feature: Fast Open" ;;
        zerocopy/*) echo "feature: zero-copy" ;;
        *v6.pkt) echo "IPv6 only" ;;
    esac
}

out=$work/out
rm -rf "$out"
mkdir -p "$out"
passed=0 failed=0 skipped=0 unexpected=()
printf '%-60s %-6s %s\n' SCRIPT RESULT DETAIL
while IFS= read -r file; do
    rel=${file#"$tests/tcp/"}
    if [ -n "$pattern" ] && ! [[ $rel =~ $pattern ]]; then
        continue
    fi
    reason=$(skip_reason "$rel")
    if [ -n "$reason" ]; then
        printf '%-60s %-6s %s\n' "$rel" skip "$reason"
        skipped=$((skipped + 1))
        continue
    fi
    log=$out/${rel//\//__}.log
    status=0
    (
        cd "$(dirname "$file")"
        # packetdrill mlockall()s (MCL_FUTURE): every thread stack must fit
        # RLIMIT_MEMLOCK (8 MiB by default), so thread stacks get 1 MiB.
        ulimit -s 1024
        PATH="$stubs:$PATH" TUNTCP_PD_HOSTCMDS="$log.hostcmds" \
            timeout -k 2 "$timeout_s" unshare --user --net \
            "$pd" --so_filename="$lib" --send_omit_free \
            --ip_version=ipv4 --local_ip=192.168.0.1 --gateway_ip=192.168.0.1 \
            --netmask_ip=255.255.0.0 --remote_ip=192.0.2.1 \
            -D TFO_COOKIE=3021b9d889017eeb -D CODE=host_unreachable \
            -D CMSG_LEVEL_IP=SOL_IP -D CMSG_TYPE_RECVERR=IP_RECVERR \
            "$(basename "$file")"
    ) >"$log" 2>&1 || status=$?
    # The no-op restore scripts the set_sysctls.py stub left in /tmp.
    if [ -f "$log.hostcmds" ]; then
        sed -n 's|^restore-script \(/tmp/sysctl_restore_[0-9]*\.sh\)$|\1|p' "$log.hostcmds" |
            xargs -r rm -f
    fi
    if [ "$status" = 0 ]; then
        printf '%-60s %-6s\n' "$rel" pass
        passed=$((passed + 1))
        continue
    fi
    if [ "$status" = 124 ] || [ "$status" = 137 ]; then
        detail="timed out after ${timeout_s}s"
    else
        # packetdrill's complaint: the first line naming the script (file:line: error ...).
        detail=$(grep -m1 -E "\.pkt:[0-9]+:|error|assertion|panicked" "$log" || true)
        [ -n "$detail" ] || detail=$(grep -m1 . "$log" || echo "exit status $status")
        detail=${detail#"$(basename "$file")":}
        # A failed %{ python }% assertion: which one, and the value it saw.
        if grep -q '^AssertionError' "$log"; then
            what=$(grep -m1 -oE 'assert [^,]*' "$log" || true)
            got=$(grep -m1 '^AssertionError' "$log" | sed 's/^AssertionError: *//' || true)
            detail="$detail: $what (got $got)"
        fi
    fi
    printf '%-60s %-6s %s\n' "$rel" fail "${detail:0:160}"
    failed=$((failed + 1))
    if [ "$verbose" = 1 ]; then
        sed 's/^/    | /' "$log"
    fi
    if [ -n "${want_pass[$rel]:-}" ]; then
        unexpected+=("$rel")
    fi
done < <(find "$tests/tcp" -name '*.pkt' | sort)

echo "logs: $out"
if ((${#unexpected[@]})); then
    echo "expected to pass but failed (tests/packetdrill/expected-pass.txt): ${unexpected[*]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
# The run list kept in the repo (tests/packetdrill/scripts.txt, which the conformance table's
# mapping is checked against) must be the scripts this tree runs.
drift=0
if [ -z "$pattern" ]; then
    if ! diff <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' "$root/tests/packetdrill/scripts.txt" | sort) \
        <(find "$tests/tcp" -name '*.pkt' -printf '%P\n' | sort |
            while IFS= read -r rel; do [ -n "$(skip_reason "$rel")" ] || echo "$rel"; done) \
        >"$out/scripts.diff"; then
        echo "tests/packetdrill/scripts.txt differs from the scripts run (<: listed only, >: run only):"
        sed 's/^/  /' "$out/scripts.diff"
        drift=1
    fi
fi
if [ "$strict" = 1 ] && { ((${#unexpected[@]})) || [ $drift = 1 ]; }; then
    exit 1
fi
