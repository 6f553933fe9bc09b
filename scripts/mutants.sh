#!/usr/bin/env bash
# Mutation testing (cargo-mutants) of the files issue 15 names, each against the fast sans-IO
# test binaries that reach it (no TUN test: those need root and namespaces and are slow).
# One mutant at a time, niced, in cargo-mutants' own copy of the tree (built without debug
# info: a mutant builds in a few seconds instead of 15). Results in mutants.out-NAME/.
#
#   scripts/mutants.sh [syncookie|listener|icmp|input|defer|ecn|reasm]...
#       (default: the first four)
#   MUTANTS_ARGS="--re process_ack" scripts/mutants.sh input  (extra cargo-mutants args)
#   CARGO_TARGET_DIR=target/mutants-NAME scripts/mutants.sh NAME  (keeps the dependencies
#       built between runs: a fresh copy builds them all again, minutes on a loaded machine)
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_PROFILE_DEV_DEBUG=0

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "mutants: installing cargo-mutants"
    cargo install --locked cargo-mutants
fi

tests() { for t in "$@"; do printf -- ' --cargo-arg=--test=%s' "$t"; done; }
# Unit tests of src/stack/icmp.rs only: the other lib modules cannot reach it.
icmp_only="-- -- --skip tcp:: --skip wire:: --skip apps:: --skip device:: --skip api::
 --skip runtime:: --skip seed:: --skip time:: --skip stack::frag --skip stack::keyed
 --skip stack::syncookie --skip stack::addr --skip stack::ports --skip stack::report
 --skip stack::stats --skip stack::timers --skip stack::mem"

# Unit tests of src/tcp/ only for input.rs.
tcp_only="-- -- --skip stack:: --skip apps:: --skip device:: --skip wire:: --skip api::
 --skip runtime:: --skip seed:: --skip time::"

# Unit tests of the fragment reassembly (frag.rs, frag6.rs) only for reasm.rs.
frag_only="-- -- --skip tcp:: --skip wire:: --skip apps:: --skip device:: --skip api::
 --skip runtime:: --skip seed:: --skip time:: --skip stack::icmp --skip stack::keyed
 --skip stack::syncookie --skip stack::addr --skip stack::ports --skip stack::report
 --skip stack::stats --skip stack::timers --skip stack::mem --skip stack::table"

status=0
for name in "${@:-syncookie listener icmp input}"; do
    for n in $name; do
        timeout=90
        case "$n" in
        syncookie)
            file=src/stack/syncookie.rs
            args="--cargo-arg=--lib $(tests listener hostile ip_icmp rfc_edges handshake counters failures)"
            ;;
        listener)
            file=src/stack/table/listener.rs
            args="$(tests listener hostile rfc_edges handshake counters ip_icmp stop)"
            ;;
        icmp)
            file=src/stack/icmp.rs
            args="--cargo-arg=--lib $(tests ip_icmp counters) $icmp_only"
            ;;
        input)
            file=src/tcp/input.rs
            args="--cargo-arg=--lib $(tests hostile rfc_edges handshake close transfer loss \
                rack prr dsack failures keepalive counters rfc_misc ss_info listener ip_icmp \
                fuzz_regressions mem_limits stop secrets offload) $tcp_only"
            ;;
        defer)
            file=src/stack/table/defer.rs
            args="$(tests deferred_handshake api_transparent)"
            # Equivalent mutants (nothing observable): Deferred::len -> 0 or 1 (only in an
            # invariant's error text); Deferred::consistent -> true and its && -> || (the
            # invariant checker itself: no API reaches an inconsistent table); expire_held's
            # `delete !` (that branch runs only if `consistent` fails).
            # api_transparent blocks for ever (it has no timeout of its own) when a mutant
            # breaks deferring: a hang is a kill, and 20 s is 25 times its run.
            timeout=20
            ;;
        ecn)
            file=src/tcp/ecn.rs
            args="$(tests ecn counters)"
            # Equivalent: ecn_mark's `| -> ^` in `(tos & !ECN_MASK) | ECT0` (low bits clear);
            # ecn_on_ack's `|| -> &&` at the CWR end (it becomes A || (recovery && loss)) and
            # `&& -> ||` before on_recovery_end: recovery or a timeout never coexists with
            # the CWR state (enter_recovery takes it, an RTO clears it). Not killed, not
            # shown equivalent: in_cwr -> false (RecoverFS counts the ACK that starts
            # recovery from CWR twice with SACK; no difference seen in 6 ACKs of PRR).
            ;;
        reasm)
            file=src/stack/reasm.rs
            args="--cargo-arg=--lib $(tests ipv6 ip_icmp counters pmtu wire hostile) $frag_only"
            # Not run to the end yet (115 mutants; use MUTANTS_ARGS="--re ..." to split).
            # Equivalent: add's `delete !` in `if !self.evict_oldest(None) { break }` (the
            # table never holds more than max_datagrams, so one eviction always suffices).
            ;;
        *)
            echo "mutants: unknown file set $n" >&2
            exit 2
            ;;
        esac
        echo "mutants: $file"
        # shellcheck disable=SC2086 # word splitting of the argument lists is wanted
        nice -n 10 cargo mutants --jobs 1 --copy-target=false --timeout "$timeout" --build-timeout 600 \
            --file "$file" -o "mutants.out-$n" ${MUTANTS_ARGS:-} $args || status=$?
    done
done
exit "$status"
