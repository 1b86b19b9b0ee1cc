#!/bin/sh
# Runs every fuzz target (tests/fuzz/fuzz_NAME.c) with libFuzzer for SECONDS
# each: links it against build-fuzz/libmend.a (built by `make fuzz` with
# clang, -fsanitize=fuzzer-no-link,address,undefined), seeds it from
# tests/fuzz/corpus/NAME (read only) with tests/fuzz/dict/NAME.dict, keeps
# what it learns in build-fuzz/corpus/NAME and writes findings to
# build-fuzz/findings/NAME/. One summary line per target:
#   fuzz NAME seconds=N runs=N corpus=N findings=N
# Exit status 1 when any target found something.
# usage: fuzz.sh SECONDS "CPPFLAGS" "LDLIBS" NAME...
set -u
secs=$1; cppflags=$2; ldlibs=$3; shift 3
found=0
for t in "$@"; do
    bin=build-fuzz/fuzz_$t
    mkdir -p build-fuzz/corpus/$t build-fuzz/findings/$t
    # shellcheck disable=SC2086
    clang $cppflags -Itests/fuzz -O1 -g -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -o "$bin" tests/fuzz/fuzz_$t.c build-fuzz/libmend.a $ldlibs || exit 2
    dict=""
    [ -f tests/fuzz/dict/$t.dict ] && dict="-dict=tests/fuzz/dict/$t.dict"
    log=build-fuzz/fuzz_$t.log
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix=build-fuzz/findings/$t/ $dict \
        build-fuzz/corpus/$t tests/fuzz/corpus/$t >"$log" 2>&1
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    n=$(find build-fuzz/findings/$t -type f | wc -l)
    c=$(find build-fuzz/corpus/$t -type f | wc -l)
    echo "fuzz $t seconds=$secs runs=${runs:-0} corpus=$c findings=$n"
    if [ "$n" -gt 0 ]; then
        found=1
        grep -m3 -E "runtime error|invariant broken|==[0-9]+==ERROR|^SUMMARY" "$log" | sed 's/^/    /'
    fi
done
exit $found
