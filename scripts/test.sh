#!/usr/bin/env bash
# Build seglog and run the whole test suite (installs missing Debian
# packages first).
#   scripts/test.sh            normal build in build/, all tests
#   scripts/test.sh --asan     ASan+UBSan build in build-asan/, all tests
#   scripts/test.sh --tsan     TSan build in build-tsan/, all tests (all are threaded)
#   scripts/test.sh --valgrind normal build, unit tests under valgrind memcheck
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
  *) echo "usage: $0 [--asan|--tsan|--valgrind]" >&2; exit 2 ;;
esac

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEGLOG_BUILD_TESTS=ON "${opts[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"

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
esac
