#!/bin/sh
# Run each cmocka test binary (keep going after a failure), then print the
# total over all binaries as one line: "tests: N passed, N failed".
# A binary that crashes or exits non-zero without cmocka's summary counts as
# one failed test.
pass=0; fail=0; failed=""
log=$(mktemp "${TMPDIR:-/tmp}/mend-tests.XXXXXX")
trap 'rm -f "$log"' EXIT
for t in "$@"; do
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    pass=$((pass + ${p:-0}))
    if [ "$rc" -ne 0 ] && [ -z "$f" ]; then f=1; fi
    fail=$((fail + ${f:-0}))
    [ "$rc" -eq 0 ] || failed="$failed $(basename "$t")"
done
echo "tests: $pass passed, $fail failed"
[ -z "$failed" ] || { echo "failing binaries:$failed" >&2; exit 1; }
