#!/bin/sh
# Regenerate the option list in README.md (between the options markers) from
# `mend replay --help`, so the README shows exactly what the binary knows.
set -eu
BIN=${1:-bin/mend}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
    echo '<!-- options:begin -->'
    echo '```'
    "$BIN" replay --help | sed -n '/^options (KEY, default, meaning):/,$p'
    echo '```'
    echo '<!-- options:end -->'
} > "$tmp"
awk -v f="$tmp" '
    /<!-- options:begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
    /<!-- options:end -->/ { skip = 0; next }
    !skip { print }' README.md > README.md.new
mv README.md.new README.md
