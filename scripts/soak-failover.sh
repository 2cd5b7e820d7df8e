#!/usr/bin/env bash
# The failover soak (issue 13): 3 nodes, RF 3, a pipelining acks=all producer,
# the leader killed with SIGKILL at random moments N times (default 100),
# then every acknowledged record checked on every replica
# (tests/cluster/test_repl.py failover; ctest runs it with 10 kills).
#
#   scripts/soak-failover.sh [KILLS] [BUILD_DIR]     (default 100, build)
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-100}"
build="${2:-build}"
PYTHONPATH="$build/python/seglog/v1" exec /usr/bin/python3 tests/cluster/test_repl.py failover \
  --kills "$kills" --seglogd "$build/src/server/seglogd" --zkctl "$build/tests/cluster/zkctl"
