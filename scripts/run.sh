#!/usr/bin/env bash
# Build seglogd and the seglog CLI (installing missing Debian packages
# first), then start seglogd on a local data directory. The two endpoints
# are printed at start. Ctrl-C stops it cleanly.
#   scripts/run.sh [seglogd options...]     e.g. --sync always
# Environment: SEGLOG_DATA (default ./data).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEGLOG_BUILD_TESTS=OFF \
      -DSEGLOG_BUILD_BENCH=OFF >/dev/null
cmake --build build -j "$(nproc)" --target seglogd seglog
exec build/src/server/seglogd --data-dir "${SEGLOG_DATA:-./data}" "$@"
