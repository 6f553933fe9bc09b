#!/usr/bin/env bash
# The test command (README, .ci/run): unit, property, trace, interop and doc tests in a
# debug build (overflow checks on), then the root-only TUN tests (tests/tun_curl.rs,
# tun_see.rs, tun_scale.rs, tun_pmtu.rs, tun_pmtu6.rs, tun_ipv6.rs, tun_proxy.rs) in a release build,
# each in its own network namespace. Outside CI the TUN tests skip loudly without root;
# with CI=true they fail instead. Then the packetdrill
# library's unit tests and the Linux packetdrill scripts (scripts/packetdrill.sh -s: fails
# when a script of tests/packetdrill/expected-pass.txt fails; needs a packetdrill source
# tree, ../shared/packetdrill or $PACKETDRILL, and gcc make flex bison: without them it
# skips loudly, except under CI=true where it fails). Extra arguments go to every cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
# docs/conformance.md must match the test names (fails when stale: run rfc-coverage.sh -w).
scripts/rfc-coverage.sh -c
cargo test --all-targets "$@" -- --skip tun_
cargo test --doc "$@"
# The embedder's library (issue 19): builds without the default `cli` feature, its normal
# dependency tree holds none of the binary's crates, and its API reference builds clean.
cargo build --no-default-features --lib
if cargo tree --no-default-features -e normal --prefix none |
    grep -E '^(clap|env_logger|signal-hook|httparse|sha2|plotters) '; then
    echo "test.sh: the library without 'cli' depends on the binary's crates above" >&2
    exit 1
fi
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --no-default-features --lib
# The async API (feature `tokio`, off by default): its tests and doc example.
cargo test --features tokio --test api_tokio "$@"
cargo test --doc --features tokio "$@" -- api::tokio
# The futures-io flavour (feature `futures-io`, off by default): its tests, and the doc
# examples (its module's and the README's, which compiles to nothing without the feature).
cargo test --features futures-io --test api_futures_io "$@"
cargo test --doc --features futures-io "$@"
if [ "$(id -u)" != 0 ] || [ ! -e /dev/net/tun ]; then
    if [ "${CI:-}" = true ]; then
        echo "test.sh: CI=true but the TUN tests cannot run (need root and /dev/net/tun)" >&2
        exit 1
    fi
    echo "!!!! test.sh: not root (or no /dev/net/tun): every tun_* test below will SKIP !!!!" >&2
fi
cargo test --release --test tun_curl "$@" -- --test-threads=2
cargo test --release --test tun_see "$@" -- --test-threads=2
cargo test --release --test tun_scale "$@" -- --test-threads=1
cargo test --release --test tun_pmtu "$@"
cargo test --release --test tun_pmtu6 "$@"
cargo test --release --test tun_ipv6 "$@" -- --test-threads=2
cargo test --release --test tun_proxy "$@" -- --test-threads=2
cargo test -p tuntcp-packetdrill "$@"
pd_src=${PACKETDRILL:-../shared/packetdrill}
if [ "${CI:-}" = true ] || { [ -d "$pd_src" ] && command -v flex >/dev/null && command -v bison >/dev/null; }; then
    scripts/packetdrill.sh -s
else
    echo "!!!! test.sh: no packetdrill source ($pd_src) or no flex/bison: packetdrill scripts SKIPPED !!!!" >&2
fi
