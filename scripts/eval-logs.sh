#!/bin/sh
# eval-logs.sh BIN LOGHUB_DIR -- what `make eval-logs` runs: grouping accuracy
# (GA) of `BIN templates` on the Loghub-2k samples, per system and on
# average, beside a reference computed in the same run.
#
# For each SYSTEM/SYSTEM_2k.log_structured.csv the Content column goes to
# `BIN templates`, one message per line; the lines are grouped by the id
# printed for each (ids are stable, so this is the miner's final grouping)
# and compared with the EventId column. GA = share of messages whose group
# is exactly the set of messages sharing their EventId. The reference masks
# every whitespace token that holds a digit and groups identical masked
# lines. Needs only sh and awk. stdout ends with
#   logs ga=F min_ga=F ref_ga=F systems=N
set -u

BIN=${1:-}
DIR=${2:-}
if [ -z "$BIN" ] || [ -z "$DIR" ]; then
    echo "usage: $0 BIN LOGHUB_DIR" >&2
    exit 2
fi
if [ ! -x "$BIN" ]; then
    echo "$0: $BIN is not an executable; build it first (make)" >&2
    exit 1
fi
if [ ! -d "$DIR" ]; then
    echo "Loghub data not found at $DIR; pass LOGHUB_DIR=... (a directory of SYSTEM/SYSTEM_2k.log_structured.csv)" >&2
    exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mend-logs.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

# CSV (RFC 4180, no newlines inside fields) -> TAB-separated Content, EventId.
# Tabs inside Content become spaces: both the miner and the reference split
# tokens at whitespace, so this changes no grouping.
csv_pick() {
    awk '
    function parse(line,   i, c, n, f, q) {
        n = 0; f = ""; q = 0
        for (i = 1; i <= length(line); i++) {
            c = substr(line, i, 1)
            if (q) {
                if (c == "\"") {
                    if (substr(line, i + 1, 1) == "\"") { f = f "\""; i++ } else q = 0
                } else f = f c
            } else if (c == "\"") q = 1
            else if (c == ",") { fld[++n] = f; f = "" }
            else f = f c
        }
        fld[++n] = f
        return n
    }
    {
        sub(/\r$/, "")
        n = parse($0)
        if (NR == 1) {
            for (i = 1; i <= n; i++) { if (fld[i] == "Content") cc = i; if (fld[i] == "EventId") ce = i }
            if (!cc || !ce) { print "no Content/EventId header" > "/dev/stderr"; exit 1 }
            next
        }
        if (n < cc || n < ce) { printf "line %d: %d fields\n", NR, n > "/dev/stderr"; exit 1 }
        c = fld[cc]; gsub(/\t/, " ", c)
        print c "\t" fld[ce]
    }' "$1"
}

# GA of column 1 (predicted group) against column 2 (true event), TAB-separated.
ga() {
    awk -F '\t' '
    { p[NR] = $1; t[NR] = $2; np[$1]++; nt[$2]++; pair[$1 SUBSEP $2]++ }
    END {
        ok = 0
        for (k in pair) {
            split(k, a, SUBSEP)
            # a predicted group is right when it holds all of one event and nothing else
            if (pair[k] == np[a[1]] && pair[k] == nt[a[2]]) ok += pair[k]
        }
        printf "%.4f\n", NR ? ok / NR : 0
    }'
}

n=0; sum=0; min=1; refsum=0; failed=0
for f in "$DIR"/*/*_structured.csv; do
    [ -f "$f" ] || continue
    sys=$(basename "$(dirname "$f")")
    if ! csv_pick "$f" > "$TMP/pick"; then
        echo "eval-logs: $f: cannot read the CSV" >&2
        failed=$((failed + 1))
        continue
    fi
    cut -f1 "$TMP/pick" > "$TMP/content"
    cut -f2 "$TMP/pick" > "$TMP/event"
    if ! "$BIN" templates "$TMP/content" > "$TMP/ids" 2> "$TMP/err"; then
        echo "eval-logs: $sys: $BIN templates failed:" >&2
        sed 's/^/    /' "$TMP/err" | head -5 >&2
        failed=$((failed + 1))
        continue
    fi
    if [ "$(wc -l < "$TMP/ids")" -ne "$(wc -l < "$TMP/event")" ]; then
        echo "eval-logs: $sys: $(wc -l < "$TMP/ids") output lines for $(wc -l < "$TMP/event") messages" >&2
        failed=$((failed + 1))
        continue
    fi
    g=$(cut -f1 "$TMP/ids" | paste - "$TMP/event" | ga)
    r=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /[0-9]/) $i = "<*>"; $1 = $1; print }' "$TMP/content" |
        paste - "$TMP/event" | ga)
    templates=$(cut -f1 "$TMP/ids" | sort -u | wc -l | tr -d ' ')
    events=$(sort -u "$TMP/event" | wc -l | tr -d ' ')
    printf '%-10s ga=%s ref_ga=%s templates=%s events=%s messages=%s\n' "$sys" "$g" "$r" \
        "$templates" "$events" "$(wc -l < "$TMP/event" | tr -d ' ')"
    n=$((n + 1))
    sum=$(awk "BEGIN{print $sum + $g}")
    refsum=$(awk "BEGIN{print $refsum + $r}")
    min=$(awk "BEGIN{print ($g < $min) ? $g : $min}")
done
if [ "$n" -eq 0 ]; then
    echo "Loghub data not found at $DIR (no */*_structured.csv); pass LOGHUB_DIR=..." >&2
    exit 1
fi
if [ "$failed" -ne 0 ]; then
    echo "eval-logs: $failed system(s) failed" >&2
    exit 1
fi
awk "BEGIN{printf \"logs ga=%.4f min_ga=%.4f ref_ga=%.4f systems=%d\n\", $sum / $n, $min, $refsum / $n, $n}"
