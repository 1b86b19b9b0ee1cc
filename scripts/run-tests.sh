#!/bin/sh
# Run each cmocka test binary, keep going after a failure, print a total line.
pass=0; fail=0; failed=""
for t in "$@"; do
    if "$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed="$failed $(basename "$t")"; fi
done
echo "test binaries: $pass passed, $fail failed"
[ "$fail" -eq 0 ] || { echo "failed:$failed" >&2; exit 1; }
