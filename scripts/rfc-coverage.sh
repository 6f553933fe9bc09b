#!/usr/bin/env bash
# RFC 9293 requirement coverage by test name.
#
# A test covers a requirement when its function name carries the ID: `fn must_57_...`,
# `fn shld_3_...`, `fn may_2_...`, `fn rec_1_...`, `fn u_4_...` (U-n: the unlabelled
# requirements numbered in the checklist). One name may carry several IDs
# (`fn must_57_must_63_broadcast_syn`). Function names are read from tests/**/*.rs and
# src/**/*.rs; the IDs from the checklist's tables (rows starting `| MUST-12 |`).
#
# Usage: scripts/rfc-coverage.sh [-v] [-h]
#   -v          also list, per covered ID, the tests that cover it
#   CHECKLIST=  path of the checklist (default: <repo>/../shared/rfc9293-checklist.md);
#               if it is missing, the full RFC 9293 ranges MUST-1..69, SHLD-1..31,
#               MAY-1..18, REC-1 are used instead (and the script says so)
#
# Counts every `fn` with such a name, #[test] or not (proptest bodies included).
# Unknown IDs in test names (typos, or IDs not in the checklist) are reported, not counted.
# Runs from any directory. Exit status 0 unless something is wrong with the inputs.

set -euo pipefail

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; }

verbose=0
while getopts ":vh" opt; do
    case $opt in
        v) verbose=1 ;;
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
checklist=${CHECKLIST:-$root/../shared/rfc9293-checklist.md}
if [ -f "$checklist" ]; then
    checklist=$(cd "$(dirname "$checklist")" && pwd)/$(basename "$checklist")
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The requirement IDs, one per line, in checklist order of levels.
if [ -f "$checklist" ]; then
    source_note="checklist: $checklist"
    grep -oE '^\| *(MUST|SHLD|MAY|REC|U)-[0-9]+ *\|' "$checklist" \
        | tr -d '| ' | sort -u >"$tmp/ids" || true
    if [ ! -s "$tmp/ids" ]; then
        echo "rfc-coverage: no requirement IDs found in $checklist" >&2
        exit 1
    fi
else
    source_note="checklist $checklist not found: using RFC 9293 ranges MUST-1..69, SHLD-1..31, MAY-1..18, REC-1"
    {
        for i in $(seq 1 69); do echo "MUST-$i"; done
        for i in $(seq 1 31); do echo "SHLD-$i"; done
        for i in $(seq 1 18); do echo "MAY-$i"; done
        echo "REC-1"
    } >"$tmp/ids"
fi

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
