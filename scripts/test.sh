#!/usr/bin/env bash
# Build seglog and run the whole test suite (installs missing Debian
# packages first).
#   scripts/test.sh            normal build in build/, all tests
#   scripts/test.sh --asan     ASan+UBSan build in build-asan/, all tests
#   scripts/test.sh --tsan     TSan build in build-tsan/, all tests (all are threaded)
#   scripts/test.sh --valgrind normal build, unit tests under valgrind memcheck
#   scripts/test.sh --fuzz     clang libFuzzer build in build-fuzz/; each fuzz target runs
#                              for SEGLOG_FUZZ_SECONDS (default 60), the targets in parallel
#   scripts/test.sh --release  Release builds (everything, benches too) with gcc in
#                              build-rel-gcc/ and clang in build-rel-clang/; any warning fails
# Every mode builds with -Werror (SEGLOG_WERROR=ON); a user's own cmake build does not.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-normal}"
bash scripts/deps.sh test

jobs=$(nproc)
case "$mode" in
  normal) dir=build; opts=(-DSEGLOG_BUILD_BENCH=ON) ;;
  --valgrind) dir=build-vg; opts=(-DSEGLOG_VALGRIND=ON -DSEGLOG_BUILD_BENCH=OFF) ;;
  --asan) dir=build-asan; opts=(-DSEGLOG_SANITIZE=ON -DSEGLOG_BUILD_BENCH=OFF) ;;
  --tsan) dir=build-tsan; opts=(-DSEGLOG_TSAN=ON -DSEGLOG_BUILD_BENCH=OFF) ;;
  --fuzz) dir=build-fuzz; opts=(-DCMAKE_C_COMPILER=clang -DSEGLOG_FUZZ=ON -DSEGLOG_BUILD_BENCH=OFF) ;;
  --release)
    for cc in gcc clang; do
      d=build-rel-$cc
      cmake -S . -B "$d" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=$cc -DSEGLOG_WERROR=ON \
        -DSEGLOG_BUILD_TESTS=ON -DSEGLOG_BUILD_BENCH=ON >/dev/null
      if ! cmake --build "$d" -j "$jobs" >"$d/build.log" 2>&1; then
        grep -E -A3 'warning|error' "$d/build.log" >&2 || tail -n 40 "$d/build.log" >&2
        echo "Release build with $cc failed" >&2
        exit 1
      fi
      echo "Release build with $cc: warning-free"
    done
    exit 0 ;;
  *) echo "usage: $0 [--asan|--tsan|--valgrind|--fuzz|--release]" >&2; exit 2 ;;
esac
opts+=(-DSEGLOG_WERROR=ON)

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEGLOG_BUILD_TESTS=ON "${opts[@]}" >/dev/null
fuzz_targets=(request log_open)
if [ "$mode" = --fuzz ]; then
  cmake --build "$dir" -j "$jobs" --target "${fuzz_targets[@]/#/fuzz_}"
else
  cmake --build "$dir" -j "$jobs"
fi

case "$mode" in
  normal) ctest --test-dir "$dir" --output-on-failure -j "$jobs" ;;
  --asan)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" ;;
  --tsan)
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" ;;
  --valgrind)
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" -L unit ;;
  --fuzz)
    # New inputs go to a scratch corpus (the seeds in tests/fuzz/corpus stay
    # as committed); logs live on tmpfs when there is one, because every
    # input opens and closes logs and fsync dominates on a disk.
    secs="${SEGLOG_FUZZ_SECONDS:-60}"
    [[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "SEGLOG_FUZZ_SECONDS must be > 0" >&2; exit 2; }
    base="${TMPDIR:-/tmp}"
    [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
    work=$(mktemp -d "$base/seglog-fuzz-XXXXXX")
    trap 'rm -rf "$work"' EXIT
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    pids=()
    for t in "${fuzz_targets[@]}"; do
      mkdir -p "$work/$t/corpus" "$work/$t/tmp" "$work/$t/artifacts"
      TMPDIR="$work/$t/tmp" "$dir/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" \
        "$work/$t/corpus" "tests/fuzz/corpus/$t" >"$work/$t/log" 2>&1 &
      pids+=($!)
    done
    failed=0
    for i in "${!fuzz_targets[@]}"; do
      t=${fuzz_targets[$i]}
      if wait "${pids[$i]}"; then
        stats=$(awk '/^stat::/ { printf "%s=%s ", substr($1, 7, length($1) - 7), $2 }' \
          "$work/$t/log")
        echo "fuzz_$t: ${stats}corpus=$(ls "tests/fuzz/corpus/$t" | wc -l)+$(ls \
          "$work/$t/corpus" | wc -l) (seeds+new)"
      else
        failed=1
        mkdir -p "$dir/fuzz-artifacts/$t"
        cp "$work/$t/artifacts/"* "$dir/fuzz-artifacts/$t/" 2>/dev/null || true
        tail -n 60 "$work/$t/log"
        echo "fuzz_$t FAILED; input(s) in $dir/fuzz-artifacts/$t/: add each to" \
             "tests/fuzz/corpus/$t/ as a regression once fixed" >&2
      fi
    done
    exit "$failed" ;;
esac
