#!/usr/bin/env bash
# RFC 9293 requirement coverage by test name.
#
# A test covers a requirement when its function name carries the ID: `fn must_57_...`,
# `fn shld_3_...`, `fn may_2_...`, `fn rec_1_...`, `fn u_4_...` (U-n: the unlabelled
# requirements numbered in docs/conformance.md). One name may carry several IDs
# (`fn must_57_must_63_broadcast_syn`). Function names are read from tests/**/*.rs and
# src/**/*.rs; the IDs from the table in docs/conformance.md (rows starting `| MUST-12 |`).
#
# Usage: scripts/rfc-coverage.sh [-v] [-w|-c] [-h]
#   -v          also list, per covered ID, the tests that cover it
#   -w          rewrite the generated "Tests per requirement" section of docs/conformance.md
#   -c          check: fail when that section is stale, when a test names an ID the table
#               does not list, or when a requirement without a test has no note (test.sh)
#   CHECKLIST=  another table of IDs to count against (rows starting `| MUST-12 |`);
#               default: docs/conformance.md, the project's own table
#
# The packetdrill scripts that touch each requirement come from tests/packetdrill/requirements.txt
# (one line per script of tests/packetdrill/scripts.txt: `SCRIPT ID... # why`, or `SCRIPT - # why`),
# pass/fail from tests/packetdrill/expected-pass.txt; -w adds them as a column, -c also fails
# when that mapping names an unknown ID or a script not in scripts.txt, misses a script of
# scripts.txt, or when expected-pass.txt names a script not in scripts.txt.
#
# Counts every `fn` with such a name, #[test] or not (proptest bodies included).
# Unknown IDs in test names (typos, or IDs not in the table) are reported, not counted.
# Runs from any directory. Exit status 0 unless something is wrong with the inputs.

set -euo pipefail
# One sort order everywhere, so the generated section is the same on every machine.
export LC_ALL=C

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

verbose=0
mode=report
while getopts ":vwch" opt; do
    case $opt in
        v) verbose=1 ;;
        w) mode=write ;;
        c) mode=check ;;
        h) usage; exit 0 ;;
        *) echo "rfc-coverage: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then
    echo "rfc-coverage: unexpected argument: $1" >&2
    exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
doc=$root/docs/conformance.md
checklist=${CHECKLIST:-$doc}
if [ ! -f "$checklist" ]; then
    echo "rfc-coverage: $checklist not found" >&2
    exit 1
fi
checklist=$(cd "$(dirname "$checklist")" && pwd)/$(basename "$checklist")
if [ "$mode" != report ] && [ "$checklist" != "$doc" ]; then
    echo "rfc-coverage: -w and -c work on docs/conformance.md only (unset CHECKLIST)" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The requirement IDs, one per line, from the table (not from the generated section).
sed '/^<!-- coverage:begin -->$/,$d' "$checklist" >"$tmp/table"
grep -oE '^\| *(MUST|SHLD|MAY|REC|U)-[0-9]+ *\|' "$tmp/table" \
    | tr -d '| ' | sort -u >"$tmp/ids" || true
if [ ! -s "$tmp/ids" ]; then
    echo "rfc-coverage: no requirement IDs found in $checklist" >&2
    exit 1
fi
source_note="table: ${checklist#"$root"/}"

# 2. Function names with their location: "path:line:name".
: >"$tmp/fns"
for dir in tests src; do
    [ -d "$root/$dir" ] || continue
    (cd "$root" && grep -rnoE --include='*.rs' '\bfn[[:space:]]+[a-z_][a-z0-9_]*' "$dir" || true) \
        | sed -E 's/fn[[:space:]]+//' >>"$tmp/fns"
done

# 3. "ID<TAB>name (path:line)" for every ID token pair in every name. A pair is a
#    level word (must|shld|may|rec|u) followed by a number, both whole `_` tokens.
awk -F: '
    {
        name = $3; where = $1 ":" $2
        n = split(name, tok, "_")
        for (i = 1; i < n; i++) {
            if (tok[i] ~ /^(must|shld|may|rec|u)$/ && tok[i + 1] ~ /^[0-9]+$/) {
                printf "%s-%d\t%s (%s)\n", toupper(tok[i]), tok[i + 1] + 0, name, where
            }
        }
    }' "$tmp/fns" | sort -u >"$tmp/hits"
# The classic cases (`case_7` in a name), for the generated section only.
awk -F: '
    {
        name = $3; where = $1 ":" $2
        n = split(name, tok, "_")
        for (i = 1; i < n; i++)
            if (tok[i] == "case" && tok[i + 1] ~ /^[0-9]+$/)
                printf "case-%d\t%s (%s)\n", tok[i + 1] + 0, name, where
    }' "$tmp/fns" | sort -u >"$tmp/cases"

# 3b. The packetdrill mapping: "ID<TAB>script (pass|fail)" per ID a script names.
pd=$root/tests/packetdrill
pd_ok=1
for f in scripts.txt expected-pass.txt requirements.txt; do
    [ -f "$pd/$f" ] || { pd_ok=0; echo "rfc-coverage: tests/packetdrill/$f not found" >&2; }
done
: >"$tmp/pd_hits"; : >"$tmp/pd_none"; : >"$tmp/pd_errors"; : >"$tmp/pd_named"
if [ $pd_ok = 1 ]; then
    # Entries of a list file: comments and blank lines dropped.
    entries() { sed 's/#.*//; s/[[:space:]]//g; /^$/d' "$1"; }
    entries "$pd/scripts.txt" | sort >"$tmp/pd_scripts"
    entries "$pd/expected-pass.txt" | sort >"$tmp/pd_pass"
    awk -v pass="$tmp/pd_pass" -v hits="$tmp/pd_hits" -v none="$tmp/pd_none" \
        -v named="$tmp/pd_named" '
        BEGIN { while ((getline l < pass) > 0) ok[l] = 1 }
        /^[[:space:]]*(#|$)/ { next }
        {
            line = $0; why = ""
            if ((c = index(line, "#")) > 0) { why = substr(line, c + 1); line = substr(line, 1, c - 1) }
            gsub(/^[[:space:]]+|[[:space:]]+$/, "", why)
            gsub(/^[[:space:]]+|[[:space:]]+$/, "", line)
            n = split(line, f, /[[:space:]]+/)
            script = f[1]; res = (script in ok) ? "pass" : "fail"
            if (script in seen) print "  line " NR ": " script " is mapped twice"
            seen[script] = 1; print script > named
            if (n < 2) { print "  line " NR ": " script " names no ID (use - and say why)"; next }
            if (n == 2 && f[2] == "-") {
                if (why == "") print "  line " NR ": " script " maps to none without a reason (# why)"
                printf "%s (%s)\n", script, res > none
                next
            }
            for (i = 2; i <= n; i++) {
                if (f[i] !~ /^(MUST|SHLD|MAY|REC|U)-[0-9]+$/) { print "  line " NR ": " script ": not an ID: " f[i]; continue }
                printf "%s\t%s (%s)\n", f[i], script, res > hits
            }
        }' "$pd/requirements.txt" >"$tmp/pd_errors"
    sort -u -o "$tmp/pd_hits" "$tmp/pd_hits"
    sort -u -o "$tmp/pd_none" "$tmp/pd_none"
    # The scripts the mapping names, for the checks below.
    sort -u "$tmp/pd_named" >"$tmp/pd_mapped"
fi

# 4. Report per level.
echo "RFC 9293 coverage by test name ($source_note)"
awk -F'\t' -v verbose="$verbose" '
    FNR == NR { ids[$1] = 1; order[++nids] = $1; next }
    {
        if ($1 in ids) { cover[$1] = cover[$1] "\n      " $2; hit[$1]++ }
        else unknown[$1] = unknown[$1] "\n      " $2
    }
    END {
        split("MUST SHLD MAY REC U", levels, " ")
        for (l = 1; l <= 5; l++) {
            lv = levels[l]; total = 0; covered = 0; missing = ""; list = ""
            # IDs sorted numerically within the level.
            for (k = 1; k <= nids; k++) {
                id = order[k]; split(id, p, "-")
                if (p[1] != lv) continue
                num[++total] = p[2] + 0
            }
            if (total == 0) continue
            for (a = 2; a <= total; a++) {          # insertion sort, at most 69 items
                v = num[a]; b = a - 1
                while (b >= 1 && num[b] > v) { num[b + 1] = num[b]; b-- }
                num[b + 1] = v
            }
            for (a = 1; a <= total; a++) {
                id = lv "-" num[a]
                if (id in hit) { covered++; list = list "\n  " id ":" cover[id] }
                else missing = missing " " id
            }
            printf "%-5s %3d/%-3d covered (%d%%)\n", lv, covered, total, (100 * covered) / total
            if (missing != "") printf "  uncovered:%s\n", missing
            if (verbose && list != "") printf "  covering tests:%s\n", list
        }
        first = 1
        for (id in unknown) {
            if (first) { print "IDs in test names that the checklist does not list:"; first = 0 }
            printf "  %s:%s\n", id, unknown[id]
        }
    }' "$tmp/ids" "$tmp/hits"
if [ $pd_ok = 1 ]; then
    printf 'packetdrill: %d of %d scripts touch %d requirements (tests/packetdrill/requirements.txt)\n' \
        "$(cut -f2 "$tmp/pd_hits" | sort -u | wc -l)" "$(wc -l <"$tmp/pd_scripts")" \
        "$(cut -f1 "$tmp/pd_hits" | sort -u | comm -12 - "$tmp/ids" | wc -l)"
fi

[ "$mode" = report ] && exit 0
[ $pd_ok = 1 ] || exit 1

# 5. The generated section: one row per ID in the table's order, its tests by name and file
#    and the packetdrill scripts that touch it.
awk -F'\t' -v pdhits="$tmp/pd_hits" -v pdnone="$tmp/pd_none" '
    BEGIN {
        while ((getline l < pdhits) > 0) {
            split(l, p, "\t"); t = p[2]; sub(/ \(/, "` (", t)
            pds[p[1]] = pds[p[1]] (pdcnt[p[1]]++ ? ", " : "") "`" t
        }
        while ((getline l < pdnone) > 0) { sub(/ \(/, "` (", l); nones = nones (nn++ ? ", " : "") "`" l }
    }
    FNR == NR { order[++n] = $1; next }
    {
        id = $1; t = $2; sub(/:[0-9]+\)$/, ")", t)
        sub(/ \(/, "` (", t)
        tests[id] = tests[id] (cnt[id]++ ? ", " : "") "`" t
    }
    END {
        print "| ID | tests | packetdrill scripts |"
        print "| --- | --- | --- |"
        for (i = 1; i <= n; i++) {
            id = order[i]
            printf "| %s | %s | %s |\n", id, (id in tests ? tests[id] : "none (see the note above)"),
                (id in pds ? pds[id] : "")
        }
        print ""
        printf "packetdrill scripts that touch no RFC 9293 requirement (%d; why for each: " \
            "tests/packetdrill/requirements.txt): %s.\n", nn, nones
        print ""
        print "| case | tests |"
        print "| --- | --- |"
        for (c = 1; c <= 15; c++) {
            id = "case-" c
            printf "| %d | %s |\n", c, (id in tests ? tests[id] : "none")
        }
    }' <(grep -oE '^\| *(MUST|SHLD|MAY|REC|U)-[0-9]+ *\|' "$tmp/table" | tr -d '| ') \
    <(cat "$tmp/hits" "$tmp/cases") \
    >"$tmp/section"

# The doc with its generated section replaced.
awk -v section="$tmp/section" '
    /^<!-- coverage:begin -->$/ { print; while ((getline l < section) > 0) print l; skip = 1; next }
    /^<!-- coverage:end -->$/ { skip = 0 }
    !skip { print }' "$doc" >"$tmp/doc"

if [ "$mode" = write ]; then
    cp "$tmp/doc" "$doc"
    echo "rfc-coverage: wrote docs/conformance.md"
    exit 0
fi

status=0
if ! cmp -s "$tmp/doc" "$doc"; then
    echo "rfc-coverage: docs/conformance.md is stale; run scripts/rfc-coverage.sh -w:" >&2
    diff "$doc" "$tmp/doc" | head -20 >&2 || true
    status=1
fi
if cut -f1 "$tmp/hits" | sort -u | comm -23 - "$tmp/ids" | grep . >/dev/null; then
    echo "rfc-coverage: tests name IDs that docs/conformance.md does not list:" >&2
    cut -f1 "$tmp/hits" | sort -u | comm -23 - "$tmp/ids" | sed 's/^/  /' >&2
    status=1
fi
# The packetdrill mapping: well-formed, known IDs, exactly the scripts we run.
if [ -s "$tmp/pd_errors" ]; then
    echo "rfc-coverage: malformed lines in tests/packetdrill/requirements.txt:" >&2
    cat "$tmp/pd_errors" >&2
    status=1
fi
if cut -f1 "$tmp/pd_hits" | sort -u | comm -23 - "$tmp/ids" | grep . >/dev/null; then
    echo "rfc-coverage: tests/packetdrill/requirements.txt names IDs that docs/conformance.md does not list:" >&2
    cut -f1 "$tmp/pd_hits" | sort -u | comm -23 - "$tmp/ids" | sed 's/^/  /' >&2
    status=1
fi
if comm -23 "$tmp/pd_mapped" "$tmp/pd_scripts" | grep . >/dev/null; then
    echo "rfc-coverage: tests/packetdrill/requirements.txt names scripts not in tests/packetdrill/scripts.txt:" >&2
    comm -23 "$tmp/pd_mapped" "$tmp/pd_scripts" | sed 's/^/  /' >&2
    status=1
fi
if comm -13 "$tmp/pd_mapped" "$tmp/pd_scripts" | grep . >/dev/null; then
    echo "rfc-coverage: scripts of tests/packetdrill/scripts.txt with no line in requirements.txt:" >&2
    comm -13 "$tmp/pd_mapped" "$tmp/pd_scripts" | sed 's/^/  /' >&2
    status=1
fi
if comm -23 "$tmp/pd_pass" "$tmp/pd_scripts" | grep . >/dev/null; then
    echo "rfc-coverage: tests/packetdrill/expected-pass.txt names scripts not in scripts.txt:" >&2
    comm -23 "$tmp/pd_pass" "$tmp/pd_scripts" | sed 's/^/  /' >&2
    status=1
fi
# Requirements without a test must say why in their note column.
cut -f1 "$tmp/hits" | sort -u >"$tmp/covered"
awk -F'|' -v covered="$tmp/covered" '
    BEGIN { while ((getline l < covered) > 0) c[l] = 1 }
    /^\| *(MUST|SHLD|MAY|REC|U)-[0-9]+ *\|/ {
        id = $2; gsub(/ /, "", id); note = $6; gsub(/^ +| +$/, "", note)
        if (!(id in c) && note == "") { print "  " id; bad = 1 }
    }
    END { exit bad }' "$tmp/table" >"$tmp/nonote" || {
    echo "rfc-coverage: requirements with no test and no note in docs/conformance.md:" >&2
    cat "$tmp/nonote" >&2
    status=1
}
[ $status -eq 0 ] && echo "rfc-coverage: docs/conformance.md is up to date"
exit $status
