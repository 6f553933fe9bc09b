#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) on the stable toolchain, without a
# sanitizer, from a temporary copy of the seed corpus in fuzz/corpus/ (so nothing new lands
# in the repo). Prints execs/s and total execs per target; exits non-zero on any crash
# (the input is kept in fuzz/artifacts/TARGET/).
#
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail

secs="${1:-60}"
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo fuzz build --sanitizer none
status=0
results=()
for target in $(cargo fuzz list); do
    mkdir -p "$work/$target"
    cp fuzz/corpus/"$target"/seed-* "$work/$target/" 2>/dev/null || true
    log="$work/$target.log"
    echo "fuzz: $target for ${secs}s"
    verdict=ok
    if ! cargo fuzz run --sanitizer none "$target" "$work/$target" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        verdict=CRASH
        status=1
        tail -n 40 "$log"
    fi
    # libFuzzer's last words: "Done N runs in S second(s)" and the final stat:: lines.
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    took="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)"
    corpus="$(find "$work/$target" -type f | wc -l)"
    results+=("$(printf 'fuzz %-12s %10s execs/s %12s execs in %ss, corpus %s: %s' \
        "$target" "${rate:-?}" "${runs:-?}" "${took:-?}" "$corpus" "$verdict")")
done

printf '%s\n' "${results[@]}"
exit "$status"
