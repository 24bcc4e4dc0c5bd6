#!/bin/sh
# run-fuzz.sh TARGET SEEDS WORKDIR SECONDS: runs a libFuzzer target for a few
# seconds over its seed corpus. New inputs go to WORKDIR/corpus (the seeds in
# the source tree stay as they are), a crash to WORKDIR/crash-*. Exits
# non-zero on a crash, a leak or a sanitizer report.
set -u
target=$1 seeds=$2 work=$3 seconds=$4
mkdir -p "$work/corpus"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=${MEDHEAD_SOURCE_ROOT:-.}/tests/lsan.supp} \
exec "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$seeds"
