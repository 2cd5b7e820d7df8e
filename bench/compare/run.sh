#!/usr/bin/env bash
# seglog side by side with Redis Streams and NATS JetStream, next to the
# transport and disk limits. docs/PERFORMANCE.md explains the method.
#
#   bench/compare/run.sh            the full comparison: 3 runs, 1 000 000 records
#   bench/compare/run.sh --smoke    10 000 records, 1 run: proves the harness works (CI)
#
# Options (after --smoke, if any):
#   --runs N            repetitions (default 3; smoke 1)
#   --records N         records per produce and consume workload (default 1000000)
#   --durable-records N records per durable produce workload (default: --records)
#   --latency N         sequential requests per latency test (default 20000)
#   --tail N            records per live-tail test, at 10 000/s (default 20000)
#   --plain-records N   records per plain-client and worker-pool workload (default 500000)
#   --plain-sizes LIST  record sizes of the plain-client group (default 100,1024; smoke 100)
#   --plain-clients LIST  client counts of the plain-client group (default 1,4; smoke 4)
#   --worker-modes LIST the workers group's --produce-on values (default frontend,workers;
#                       "default" passes none, for a seglogd older than the flag)
#   --only LIST         comma list of produce,durable,consume,latency,tail,limits,plain,workers
#                       (the default), and cluster (issue 13; only when named, see
#                       cluster_group.sh): e.g. --only cluster
#   --cluster-sizes LIST    record sizes of the cluster group (default 100,1024; smoke 100)
#   --cluster-clients LIST  client counts of the cluster group (default 1,4; smoke 1)
#   --cluster-records N     records per seglog workload of the group (default 500000)
#   --js-records N          records per JetStream R3 workload (default 100000)
#   --js-window W           JetStream async publishes in flight per client (default 4096)
#   --cluster-kills N       kills of the failover soak (default 20; smoke 0: skipped)
#   --stall-records N       records of the stalled-follower workload (default 3000000)
#   --stall-rss-mib M       the leader's RSS limit then (default 256)
#   --seglogd PATH      the seglogd to measure (default: the one in --build-dir), e.g.
#                       one built from an older commit for a before/after comparison
#   --out DIR           where results go (default build-compare/compare-<time>)
#   --build-dir DIR     the CMake build to use (default build-compare)
#   --no-build          use the binaries in --build-dir as they are (ctest does)
#   --no-install        do not install anything (fail if something is missing)
#
# It installs what is missing (Debian: redis-server, nats-server,
# libhiredis-dev, node; npm: nats.js into bench/compare/node_modules),
# builds seglogd and the drivers, and starts every server itself on
# 127.0.0.1 with an ephemeral port and a data directory under one temporary
# directory, a fresh server for each workload; each is stopped by PID, and
# the trap stops whatever is left on any exit. Each workload is a separate
# process printing one JSON line; report.py turns them into the table
# (stdout and table.md) and results.json / results.csv in the out dir.
# Exit status: 0 only if every server started and every workload passed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

smoke=0
[ "${1:-}" = "--smoke" ] && { smoke=1; shift; }
runs=3 records=1000000 durable_records="" latency_n=20000 tail_n=20000 sync_n=5000
plain_records=500000 step_timeout=900
plain_sizes="100 1024" plain_nclients="1 4" worker_modes="frontend workers"
cluster_sizes="100 1024" cluster_nclients="1 4" cluster_records=500000 js_records=100000
js_window=4096 cluster_kills=20 stall_records=3000000 stall_rss_mib=256
if [ $smoke = 1 ]; then # the plain group: every driver once per window, 4 clients
  runs=1 records=10000 latency_n=1000 tail_n=2000 sync_n=200 plain_records=4000 step_timeout=120
  plain_sizes="100" plain_nclients="4"
  cluster_sizes="100" cluster_nclients="1" cluster_records=20000 js_records=5000
  cluster_kills=0 stall_records=1000000
fi
only="produce,durable,consume,latency,tail,limits,plain,workers"
out="" build="$root/build-compare" install=1 do_build=1 seglogd=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --records) records="$2"; shift 2 ;;
    --durable-records) durable_records="$2"; shift 2 ;;
    --latency) latency_n="$2"; shift 2 ;;
    --tail) tail_n="$2"; shift 2 ;;
    --plain-records) plain_records="$2"; shift 2 ;;
    --plain-sizes) plain_sizes="${2//,/ }"; shift 2 ;;
    --plain-clients) plain_nclients="${2//,/ }"; shift 2 ;;
    --worker-modes) worker_modes="${2//,/ }"; shift 2 ;;
    --cluster-sizes) cluster_sizes="${2//,/ }"; shift 2 ;;
    --cluster-clients) cluster_nclients="${2//,/ }"; shift 2 ;;
    --cluster-records) cluster_records="$2"; shift 2 ;;
    --js-records) js_records="$2"; shift 2 ;;
    --js-window) js_window="$2"; shift 2 ;;
    --cluster-kills) cluster_kills="$2"; shift 2 ;;
    --stall-records) stall_records="$2"; shift 2 ;;
    --stall-rss-mib) stall_rss_mib="$2"; shift 2 ;;
    --seglogd) seglogd="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-install) install=0; shift ;;
    *) echo "usage: $0 [--smoke] [--runs N] [--records N] [--durable-records N] [--latency N]" \
            "[--tail N] [--plain-records N] [--plain-sizes LIST] [--plain-clients LIST]" \
            "[--worker-modes LIST] [--cluster-sizes LIST] [--cluster-clients LIST]" \
            "[--cluster-records N] [--js-records N] [--js-window W] [--cluster-kills N]" \
            "[--stall-records N] [--stall-rss-mib M]" \
            "[--only LIST] [--out DIR] [--build-dir DIR]" \
            "[--seglogd PATH] [--no-build] [--no-install]" >&2
       exit 2 ;;
  esac
done
durable_records="${durable_records:-$records}"
[ -n "$out" ] || out="$build/compare-$(date +%Y%m%d-%H%M%S)"
want() { [[ ",$only," == *",$1,"* ]]; }
# Node, nats.js, Redis: for every group but cluster (which has its own C driver).
others=0
for g in ${only//,/ }; do [ "$g" = cluster ] || others=1; done
log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
die() { echo "compare: FAILED: $*" >&2; exit 1; }

# ---- cleanup: every server we start is in PIDS; the trap stops them all --
PIDS=()
TMP=""
POLICY_RC=""
stop_pid() { # stop_pid PID: TERM, wait up to 10 s, then KILL
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not stop on SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  [ -n "$POLICY_RC" ] && rm -f "$POLICY_RC"
  [ -n "$TMP" ] && rm -rf "$TMP"
  [ $rc -ne 0 ] && echo "compare: exit status $rc (see the messages above)" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- dependencies --------------------------------------------------------
missing_debs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
if [ $install = 1 ]; then
  bash "$root/scripts/deps.sh" build
  pkgs=(redis-server redis-tools nats-server libhiredis-dev python3-zmq python3-protobuf
        libnats-dev zookeeper)
  command -v node >/dev/null && command -v npm >/dev/null || pkgs+=(nodejs npm)
  mapfile -t need < <(missing_debs "${pkgs[@]}")
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    # The packages must not start their system-wide services: a
    # policy-rc.d that says no, only for this install, unless one exists.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      POLICY_RC=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY_RC" >/dev/null
      $SUDO chmod +x "$POLICY_RC"
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${need[@]}" >&2
    if [ -n "$POLICY_RC" ]; then $SUDO rm -f "$POLICY_RC"; POLICY_RC=""; fi
  fi
  if [ $others = 1 ] && { [ ! -f "$here/node_modules/nats/package.json" ] ||
     [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; }; then
    log "npm ci (nats.js) in bench/compare"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
fi
for c in redis-server redis-cli nats-server node python3; do
  [ $others = 1 ] || [ "$c" = nats-server ] || [ "$c" = python3 ] || continue
  command -v "$c" >/dev/null || die "$c is not installed"
done
/usr/bin/python3 -c 'import zmq, google.protobuf' 2>/dev/null ||
  die "pyzmq or protobuf is missing for /usr/bin/python3 (python3-zmq, python3-protobuf)"
[ $others = 0 ] || [ -f "$here/node_modules/nats/package.json" ] ||
  die "nats.js is not installed (npm ci in $here)"

# ---- build ---------------------------------------------------------------
if [ $do_build = 1 ]; then
  log "building seglogd and the drivers in $build"
  # the cluster group also needs the CLI, cmp_jetstream, and zkctl (a test
  # tool) for scripts/soak-failover.sh
  targets=(seglogd cmp_seglog cmp_redis cmp_limits cmp_plain seglog_proto_python)
  tests=OFF
  if want cluster; then targets+=(seglog cmp_jetstream zkctl); tests=ON; fi
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEGLOG_BUILD_TESTS=$tests \
        -DSEGLOG_BUILD_BENCH=ON >/dev/null
  cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null \
    || die "the build failed"
fi
SEGLOGD="${seglogd:-$build/src/server/seglogd}"
CMP="$build/bench/compare"
PBDIR="$build/python/seglog/v1" # seglog_pb2.py, for the pyzmq driver
bins=("$SEGLOGD" "$CMP/cmp_plain")
[ $others = 0 ] || bins+=("$CMP/cmp_seglog" "$CMP/cmp_redis" "$CMP/cmp_limits")
! want cluster || bins+=("$CMP/cmp_jetstream")
for b in "${bins[@]}"; do
  [ -x "$b" ] || die "$b was not built (cmp_redis needs libhiredis-dev when CMake runs)"
done
[ -f "$PBDIR/seglog_pb2.py" ] || die "$PBDIR/seglog_pb2.py was not generated"

# ---- servers -------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/seglog-compare.XXXXXX")"
mkdir -p "$out"
RESULTS="$out/results.jsonl"
: > "$RESULTS"
nserver=0
SRV_PID="" SRV_DIR="" EP="" PUB=""

# A free TCP port on 127.0.0.1 (bound, read back, released). A server that
# loses the race fails to start and is retried with another port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # wait_for SECONDS CMD...: until CMD succeeds, or fail
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    kill -0 "$SRV_PID" 2>/dev/null || return 1
    sleep 0.05
  done
}

new_dir() { nserver=$((nserver + 1)); SRV_DIR="$TMP/$1-$nserver"; mkdir -p "$SRV_DIR"; }
track() { SRV_PID="$1"; PIDS+=("$1"); }

start_seglog() { # start_seglog SYNC [seglogd options...]
  new_dir seglog
  local sync="$1"; shift
  "$SEGLOGD" --data-dir "$SRV_DIR/data" --bind 'tcp://127.0.0.1:*' --pub 'tcp://127.0.0.1:*' \
    --endpoints-file "$SRV_DIR/endpoints" --sync "$sync" --log-level warn "$@" \
    >"$SRV_DIR/log" 2>&1 &
  track $!
  wait_for 10 test -s "$SRV_DIR/endpoints" || { cat "$SRV_DIR/log" >&2; die "seglogd did not start"; }
  EP="$(sed -n 's/^bind=//p' "$SRV_DIR/endpoints")"
  PUB="$(sed -n 's/^pub=//p' "$SRV_DIR/endpoints")"
}

start_redis() { # start_redis everysec|always
  local try port
  for try in 1 2 3; do
    new_dir redis
    port="$(free_port)"
    # AOF only (no RDB snapshots), no automatic AOF rewrite during the run.
    redis-server --bind 127.0.0.1 --port "$port" --dir "$SRV_DIR" --appendonly yes \
      --appendfsync "$1" --save '' --auto-aof-rewrite-percentage 0 --daemonize no \
      --logfile "$SRV_DIR/log" &
    track $!
    if wait_for 10 redis-cli -h 127.0.0.1 -p "$port" ping; then EP="127.0.0.1:$port"; return 0; fi
    stop_server
  done
  cat "$SRV_DIR/log" >&2 || true
  die "redis-server did not start"
}

start_nats() {
  new_dir nats
  # -p -1: nats-server picks a free port and writes it to the ports file.
  nats-server -a 127.0.0.1 -p -1 -js -sd "$SRV_DIR/js" --ports_file_dir "$SRV_DIR" \
    -l "$SRV_DIR/log" &
  track $!
  local f="$SRV_DIR/nats-server_$SRV_PID.ports"
  wait_for 10 test -s "$f" || { cat "$SRV_DIR/log" >&2; die "nats-server did not start"; }
  EP="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nats"][0].split("//")[1])' "$f")"
}

start_echo() {
  new_dir echo
  "$CMP/cmp_limits" echo-serve --endpoint "$SRV_DIR/endpoint" >"$SRV_DIR/log" 2>&1 &
  track $!
  wait_for 10 test -s "$SRV_DIR/endpoint" || { cat "$SRV_DIR/log" >&2; die "the echo did not start"; }
  EP="$(cat "$SRV_DIR/endpoint")"
}

stop_server() {
  [ -n "$SRV_PID" ] || return 0
  stop_pid "$SRV_PID"
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$SRV_PID" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  rm -rf "$SRV_DIR"
  SRV_PID=""
}

# Run one driver; its JSON line goes to RESULTS with the run and the
# workload's name. A failure stops everything (the trap cleans up).
RUN=0
drive() { # drive WORKLOAD DURABLE CMD...
  local workload="$1" durable="$2"; shift 2
  local line rc=0
  line="$(timeout --kill-after=10 "$step_timeout" "$@")" || rc=$?
  if [ $rc -ne 0 ] || [ "$(printf '%s\n' "$line" | grep -c '^{')" -ne 1 ]; then
    [ -n "$SRV_DIR" ] && [ -f "$SRV_DIR/log" ] && tail -20 "$SRV_DIR/log" >&2
    die "$workload: $* (exit $rc${line:+, printed: $line})"
  fi
  printf '{"run": %d, "workload": "%s", "durable": %d, %s\n' "$RUN" "$workload" "$durable" \
    "${line#\{}" >>"$RESULTS"
  log "  $(printf '%s' "$line" | cut -c1-150)"
}

# One workload against every system, alternating, each on a fresh server.
#   each_system WORKLOAD DURABLE ARGS...   (driver arguments after the mode)
each_system() {
  local workload="$1" durable="$2"; shift 2
  local mode="${workload%%-*}"
  start_seglog "$([ "$durable" = 1 ] && echo always || echo interval:1000)"
  drive "$workload" "$durable" "$CMP/cmp_seglog" "$mode" --endpoint "$EP" --pub "$PUB" "$@"
  stop_server
  if [ "$mode" = consume ] || [ "$mode" = latency ]; then # the plain client too
    start_seglog interval:1000
    drive "$workload" "$durable" "$CMP/cmp_plain" "$mode" --endpoint "$EP" "$@"
    stop_server
  fi
  start_redis "$([ "$durable" = 1 ] && echo always || echo everysec)"
  drive "$workload" "$durable" "$CMP/cmp_redis" "$mode" --endpoint "$EP" "$@"
  stop_server
  # nats-server 2.9.10 has no per-write sync (sync_interval came in 2.10.0):
  # its durable figures are those of its only configuration, measured once.
  if [ "$durable" = 0 ]; then
    start_nats
    drive "$workload" "$durable" node "$here/js_driver.mjs" "$mode" --endpoint "$EP" "$@"
    stop_server
  fi
}

# Issue 12: single records through a plain client (libzmq + protobuf-c only,
# window W, one send per reply), pyzmq, the same client against a ROUTER
# echo, the project's client, Redis XADD and JetStream at the same window.
# Workload "plain"; each on a fresh server.
plain_clients() {
  local size clients w args
  for size in $plain_sizes; do
    for clients in $plain_nclients; do
      for w in 64 256; do
        args=(--size "$size" --clients "$clients" --window "$w" --records "$plain_records")
        start_seglog interval:1000
        drive plain 0 "$CMP/cmp_plain" produce --endpoint "$EP" "${args[@]}"
        stop_server
        start_seglog interval:1000
        drive plain 0 /usr/bin/python3 "$here/pyzmq_driver.py" produce --endpoint "$EP" \
          --pb-dir "$PBDIR" "${args[@]}"
        stop_server
        start_seglog interval:1000
        drive plain 0 "$CMP/cmp_seglog" produce --endpoint "$EP" "${args[@]}"
        stop_server
        start_echo
        drive plain 0 "$CMP/cmp_plain" echo --endpoint "$EP" "${args[@]}"
        stop_server
        start_redis everysec
        drive plain 0 "$CMP/cmp_redis" produce --endpoint "$EP" "${args[@]}"
        stop_server
        start_nats
        drive plain 0 node "$here/js_driver.mjs" produce --endpoint "$EP" "${args[@]}"
        stop_server
      done
    done
  done
}

# The worker pool: 4 topics x 4 clients (client i on topic i % 4), 100 B
# single records, window 64, seglogd --workers 1 and --workers 2, with each
# --produce-on of --worker-modes; the project's client and the plain one.
# Workload "workers", label "workers=N on=MODE".
worker_pool() {
  local n m args flags
  for m in $worker_modes; do
    for n in 1 2; do
      args=(--size 100 --clients 4 --topics 4 --window 64 --records "$plain_records"
            --label "workers=$n on=$m")
      flags=(--workers "$n")
      [ "$m" = default ] || flags+=(--produce-on "$m")
      start_seglog interval:1000 "${flags[@]}"
      drive workers 0 "$CMP/cmp_seglog" produce --endpoint "$EP" "${args[@]}"
      stop_server
      start_seglog interval:1000 "${flags[@]}"
      drive workers 0 "$CMP/cmp_plain" produce --endpoint "$EP" "${args[@]}"
      stop_server
    done
  done
}

# The cluster group (issue 13): 3-node seglog on ZooKeeper, standalone seglog
# and JetStream R3 in the same run; functions in cluster_group.sh.
# shellcheck source=cluster_group.sh
. "$here/cluster_group.sh"

# ---- the runs ------------------------------------------------------------
{
  echo "seglog comparison: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))"
  echo "kernel $(uname -r); data in $TMP, on $(df -PT "$TMP" | awk 'NR==2 {print $1 " (" $2 ")"}')"
  if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    echo "seglog $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src include ||
          echo ' + uncommitted changes in src/include')"
  else
    echo "seglog source: $root (not a git checkout)"
  fi
  if [ $others = 1 ]; then
    echo "$(redis-server --version | cut -d' ' -f1-3); nats-server $(nats-server --version | sed 's/.*v//');" \
         "node $(node --version), nats.js $(node -p 'require(process.argv[1]).version' "$here/node_modules/nats/package.json")"
  fi
  want cluster && echo "nats-server $(nats-server --version | sed 's/.*v//'), libnats" \
       "$(dpkg-query -W -f='${Version}' libnats-dev 2>/dev/null), zookeeper" \
       "$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null)"
  echo "mode: $([ $smoke = 1 ] && echo smoke || echo full), $runs run(s), $records records" \
       "($durable_records durable), latency $latency_n, tail $tail_n at 10000/s," \
       "plain/workers $plain_records (sizes $plain_sizes, clients $plain_nclients); only $only"
  want cluster && echo "cluster: sizes $cluster_sizes, clients $cluster_nclients, $cluster_records records" \
       "(JetStream R3 $js_records, $js_window in flight), stall $stall_records, kills $cluster_kills"
  [ -z "$seglogd" ] || echo "seglogd measured: $seglogd (the line above describes the drivers' tree)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"
t_start=$SECONDS

for RUN in $(seq 1 "$runs"); do
  log "run $RUN of $runs"
  for size in 100 1024; do
    if want produce || want durable; then
      for batch in 1 100; do
        for clients in 1 4; do
          args=(--size "$size" --batch "$batch" --clients "$clients" --window 64)
          if want produce; then
            each_system produce 0 "${args[@]}" --records "$records"
          fi
          if want durable; then
            each_system produce 1 "${args[@]}" --records "$durable_records"
          fi
          if want limits; then
            start_echo
            drive echo 0 "$CMP/cmp_limits" echo-produce --endpoint "$EP" "${args[@]}" \
              --records "$records"
            stop_server
          fi
        done
      done
    fi
    if want limits; then
      drive write 0 "$CMP/cmp_limits" write --dir "$TMP" --size "$size" --records "$records"
    fi
    if want consume; then
      each_system consume 0 --size "$size" --records "$records" --range 1000
    fi
    if want latency; then
      each_system latency 0 --size "$size" --records "$latency_n"
      if want limits; then
        start_echo
        drive echo-latency 0 "$CMP/cmp_limits" echo-latency --endpoint "$EP" --size "$size" \
          --records "$latency_n"
        stop_server
      fi
    fi
    if want tail; then
      each_system tail 0 --size "$size" --records "$tail_n" --rate 10000
      each_system tail 1 --size "$size" --records "$tail_n" --rate 10000
    fi
  done
  if want limits; then
    drive fdatasync 0 "$CMP/cmp_limits" fdatasync --dir "$TMP" --records "$sync_n"
  fi
  if want plain; then plain_clients; fi
  if want workers; then worker_pool; fi
  if want cluster; then cluster_group; fi
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg); $((SECONDS - t_start)) s" \
  | tee -a "$out/machine.txt"
[ ${#PIDS[@]} -eq 0 ] || die "servers still tracked: ${PIDS[*]}"
python3 "$here/report.py" "$out"
log "results in $out (results.jsonl, results.json, results.csv, table.md)"
