# cluster_group.sh - run.sh's "cluster" group (issue 13), sourced by run.sh
# (it uses run.sh's helpers: free_port, new_dir, track, stop_pid, drive, log,
# die, and its PIDS/TMP/RESULTS).
#
# For each record size (--cluster-sizes), batch (1, 100) and client count
# (--cluster-clients), in the same run:
#   - a 3-node seglog cluster on loopback with a real ZooKeeper (one
#     ZooKeeper per run of the group, a chroot per workload, fresh nodes and
#     data for each), RF 3, acks=all (the cluster default), --sync
#     interval:1000, --zk-session-ms 2000 (the default --replica-lag-ms,
#     10 000); cmp_plain produces to the topic's leader; the RSS of
#     each node is sampled from /proc every 100 ms while it runs (max kept);
#   - a standalone seglogd (interval:1000), the same cmp_plain workload;
#   - NATS JetStream R3, batch 1 only: three nats-server with cluster routes
#     on loopback, a file-store stream with 3 replicas, cmp_jetstream (the C
#     client, async publish, --js-window in flight per client); RSS sampled
#     the same way.
# Windows: 256 requests per client for single records, 64 for batches of
# 100 (both systems). Then:
#   - stall: the cluster under batches of 100 (4 clients) with one follower
#     SIGSTOPped after a second and SIGCONTed at the end: the leader's RSS
#     must stay bounded (its max is reported; the group fails above
#     --stall-rss-mib), acks=all goes on once the ISR shrank;
#   - failover: scripts/soak-failover.sh --cluster-kills times (0: skipped);
#     its median is reported next to --zk-session-ms + 1 s.
# Workloads "cluster" (system seglog-cluster, seglog, jetstream-r3),
# "cluster-stall" and "cluster-failover" in results.jsonl.

CL_ZK_PID="" CL_ZK_PORT="" CL_NODE_PIDS=() CL_EPS=() CL_N=0 CL_LEADER="" CL_SAMPLER=""

cl_zk_start() {
  local d="$TMP/zk" cp try ok=""
  mkdir -p "$d/data"
  cp="$d:/usr/share/java/zookeeper.jar"
  if [ -f /usr/share/java/slf4j-log4j12.jar ] && [ -f /usr/share/java/log4j-1.2.jar ]; then
    cp="$cp:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
    printf 'log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\nlog4j.appender.F.layout.ConversionPattern=%%d %%-5p %%c{1}: %%m%%n\n' \
      "$d/zk.log" > "$d/log4j.properties"
  fi
  for try in 1 2 3; do
    CL_ZK_PORT="$(free_port)"
    printf 'tickTime=200\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok\n' \
      "$d/data" "$CL_ZK_PORT" > "$d/zoo.cfg"
    java -Dzookeeper.jmx.log4j.disable=true -cp "$cp" \
      org.apache.zookeeper.server.ZooKeeperServerMain "$d/zoo.cfg" > "$d/zk.out" 2>&1 &
    CL_ZK_PID=$!
    PIDS+=("$CL_ZK_PID")
    for _ in $(seq 1 150); do
      if { exec 3<>"/dev/tcp/127.0.0.1/$CL_ZK_PORT"; } 2>/dev/null; then
        printf 'ruok' >&3; ok=$(timeout 2 cat <&3 || true); exec 3<&- 3>&-
        [ "$ok" = imok ] && return 0
      fi
      kill -0 "$CL_ZK_PID" 2>/dev/null || break
      sleep 0.2
    done
    cl_untrack "$CL_ZK_PID"; stop_pid "$CL_ZK_PID"
  done
  cat "$d/zk.out" >&2
  die "ZooKeeper did not start"
}

cl_untrack() { # remove PIDs from PIDS (after stopping them)
  local keep=() p q drop
  for p in "${PIDS[@]}"; do
    drop=0
    for q in "$@"; do [ "$p" = "$q" ] && drop=1; done
    [ $drop = 1 ] || keep+=("$p")
  done
  PIDS=("${keep[@]}")
}

# RSS sampling: every 100 ms, "pid kib" lines into a file, until stopped.
cl_sample_start() { # cl_sample_start FILE PID...
  local f="$1"; shift
  ( while :; do
      for p in "$@"; do
        awk -v p="$p" '/^VmRSS:/ {print p, $2}' "/proc/$p/status" 2>/dev/null
      done
      sleep 0.1
    done ) > "$f" &
  CL_SAMPLER=$!
  PIDS+=("$CL_SAMPLER")
}
cl_sample_stop() {
  [ -n "$CL_SAMPLER" ] || return 0
  kill "$CL_SAMPLER" 2>/dev/null || true
  wait "$CL_SAMPLER" 2>/dev/null || true
  cl_untrack "$CL_SAMPLER"
  CL_SAMPLER=""
}
cl_rss_json() { # cl_rss_json FILE PID...: "[max MiB of each pid, in order]"
  local f="$1"; shift
  local out="" p m
  for p in "$@"; do
    m="$(awk -v p="$p" '$1 == p && $2 > m {m = $2} END {printf "%.1f", m / 1024}' "$f")"
    out="${out:+$out, }$m"
  done
  echo "[$out]"
}

# Start 3 seglogd in cluster mode under chroot /wN; CL_EPS gets their
# request endpoints once all three are registered.
cl_start() { # cl_start [extra seglogd flags...]
  CL_N=$((CL_N + 1))
  CL_NODE_PIDS=() CL_EPS=()
  local i d
  for i in 1 2 3; do
    d="$TMP/cl$CL_N/n$i"
    mkdir -p "$d"
    "$SEGLOGD" --data-dir "$d/data" --bind 'tcp://127.0.0.1:*' --pub 'tcp://127.0.0.1:*' \
      --endpoints-file "$d/endpoints" --sync interval:1000 --log-level warn \
      --zookeeper "127.0.0.1:$CL_ZK_PORT/w$CL_N" --node-id "$i" --replication-factor 3 \
      --zk-session-ms 2000 "$@" > "$d/log" 2>&1 &
    CL_NODE_PIDS+=($!)
    PIDS+=($!)
  done
  for i in 1 2 3; do
    d="$TMP/cl$CL_N/n$i"
    SRV_PID="${CL_NODE_PIDS[$((i - 1))]}"
    wait_for 20 test -s "$d/endpoints" || { cat "$d/log" >&2; die "cluster node $i did not start"; }
    CL_EPS+=("$(sed -n 's/^bind=//p' "$d/endpoints")")
  done
  SRV_PID=""
  local list deadline=$((SECONDS + 30))
  list="$(IFS=,; echo "${CL_EPS[*]}")"
  # Three live nodes, then the topic (RF 3) by a first produce, then its leader.
  until [ "$("$SEGLOG_CLI" cluster --endpoint "${CL_EPS[0]}" --format json 2>/dev/null |
             python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin)["nodes"] if n["alive"]))' 2>/dev/null)" = 3 ]; do
    [ $SECONDS -lt $deadline ] || die "the cluster did not register 3 nodes"
    sleep 0.1
  done
  "$SEGLOG_CLI" produce --endpoint "$list" -t bench --timeout 5000 warmup >/dev/null ||
    die "the first produce to the cluster failed"
  CL_LEADER="$("$SEGLOG_CLI" cluster --endpoint "${CL_EPS[0]}" --format json | python3 -c '
import json, sys
m = json.load(sys.stdin)
t = [t for t in m["topics"] if t["name"] == "bench"][0]
assert len(t["replicas"]) == 3 and len(t["isr"]) == 3, t
print([n["endpoint"] for n in m["nodes"] if n["id"] == t["leader"]][0])')" ||
    die "no leader for the benchmark topic"
}
cl_stop() {
  local p
  for p in "${CL_NODE_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; stop_pid "$p"; done
  cl_untrack "${CL_NODE_PIDS[@]}"
  rm -rf "$TMP/cl$CL_N"
  CL_NODE_PIDS=()
}
cl_node_pid() { # the PID of the node whose endpoint is $1
  local i
  for i in 0 1 2; do if [ "${CL_EPS[$i]}" = "$1" ]; then echo "${CL_NODE_PIDS[$i]}"; fi; done
}
cl_node_id() { # the node id (1-3) of the node whose endpoint is $1
  local i
  for i in 0 1 2; do if [ "${CL_EPS[$i]}" = "$1" ]; then echo "$((i + 1))"; fi; done
}

JS_PIDS=() JS_URLS=""
js_start() {
  new_dir nats3
  local i ports=() rports=() routes="" d
  for i in 1 2 3; do ports+=("$(free_port)"); rports+=("$(free_port)"); done
  for i in 0 1 2; do routes="${routes:+$routes, }nats-route://127.0.0.1:${rports[$i]}"; done
  JS_PIDS=() JS_URLS=""
  for i in 0 1 2; do
    d="$SRV_DIR/s$i"
    mkdir -p "$d"
    cat > "$d/nats.conf" <<CONF
server_name: s$i
listen: 127.0.0.1:${ports[$i]}
jetstream { store_dir: "$d/js" }
cluster { name: bench, listen: 127.0.0.1:${rports[$i]}, routes: [$routes] }
CONF
    nats-server -c "$d/nats.conf" -l "$d/log" &
    JS_PIDS+=($!)
    PIDS+=($!)
    JS_URLS="${JS_URLS:+$JS_URLS,}nats://127.0.0.1:${ports[$i]}"
  done
  for i in 0 1 2; do
    SRV_PID="${JS_PIDS[$i]}"
    wait_for 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/${ports[$i]}" ||
      { cat "$SRV_DIR/s$i/log" >&2; die "nats-server $i did not start"; }
  done
  SRV_PID=""
}
js_stop() {
  local p
  for p in "${JS_PIDS[@]}"; do stop_pid "$p"; done
  cl_untrack "${JS_PIDS[@]}"
  rm -rf "$SRV_DIR"
  JS_PIDS=()
}

# drive_rss WORKLOAD FILE PIDS-VAR CMD...: drive with RSS sampling; adds
# "rss_mib": [...] (one per PID, in order) to the JSON line.
drive_rss() {
  local workload="$1" f="$2"; shift 2
  local -n pids_ref="$1"; shift
  cl_sample_start "$f" "${pids_ref[@]}"
  drive "$workload" 0 "$@"
  cl_sample_stop
  local rss
  rss="$(cl_rss_json "$f" "${pids_ref[@]}")"
  # the line drive appended last: add the RSS figures
  python3 - "$RESULTS" "$rss" <<'PY'
import json, sys
p, rss = sys.argv[1], json.loads(sys.argv[2])
lines = open(p).read().splitlines()
o = json.loads(lines[-1]); o["rss_mib"] = rss
lines[-1] = json.dumps(o)
open(p, "w").write("\n".join(lines) + "\n")
PY
  log "  rss MiB: $rss"
}

cluster_group() {
  command -v java >/dev/null || die "java is not installed (scripts/deps.sh test: zookeeper)"
  [ -f /usr/share/java/zookeeper.jar ] || die "zookeeper is not installed (scripts/deps.sh test)"
  [ -x "$CMP/cmp_jetstream" ] || die "$CMP/cmp_jetstream was not built (libnats-dev)"
  SEGLOG_CLI="$(dirname "$SEGLOGD")/../cli/seglog"
  [ -x "$SEGLOG_CLI" ] || die "no seglog CLI next to $SEGLOGD ($SEGLOG_CLI)"
  [ -n "$CL_ZK_PID" ] || cl_zk_start
  local size batch clients w args rec
  for size in $cluster_sizes; do
    for batch in 1 100; do
      for clients in $cluster_nclients; do
        w=$([ "$batch" = 1 ] && echo 256 || echo 64)
        rec=$((cluster_records / (batch * clients) * batch * clients))
        args=(--size "$size" --batch "$batch" --clients "$clients" --window "$w" --records "$rec")
        cl_start
        drive_rss cluster "$TMP/rss" CL_NODE_PIDS "$CMP/cmp_plain" produce --endpoint "$CL_LEADER" \
          "${args[@]}" --label "seglog-cluster leader=$(cl_node_id "$CL_LEADER")"
        cl_stop
        start_seglog interval:1000
        drive cluster 0 "$CMP/cmp_plain" produce --endpoint "$EP" "${args[@]}" --label "seglog"
        stop_server
        if [ "$batch" = 1 ]; then
          rec=$((js_records / clients * clients))
          js_start
          drive_rss cluster "$TMP/rss" JS_PIDS "$CMP/cmp_jetstream" produce --endpoint "$JS_URLS" \
            --replicas 3 --size "$size" --clients "$clients" --in-flight "$js_window" \
            --records "$rec" --label "jetstream-r3"
          js_stop
        fi
      done
    done
  done
  cluster_stall
  cl_untrack "$CL_ZK_PID"; stop_pid "$CL_ZK_PID"; CL_ZK_PID=""; rm -rf "$TMP/zk"
  if [ "$cluster_kills" -gt 0 ]; then cluster_failover; fi
}

# One follower SIGSTOPped under load: the leader's RSS stays bounded.
cluster_stall() {
  local rec=$((stall_records / 400 * 400)) lpid fpid i dpid rc=0 line rss isr
  cl_start --replica-lag-ms 2000
  lpid="$(cl_node_pid "$CL_LEADER")"
  for i in 0 1 2; do if [ "${CL_NODE_PIDS[$i]}" != "$lpid" ]; then fpid="${CL_NODE_PIDS[$i]}"; fi; done
  cl_sample_start "$TMP/rss-stall" "${CL_NODE_PIDS[@]}"
  timeout --kill-after=10 "$step_timeout" "$CMP/cmp_plain" produce --endpoint "$CL_LEADER" \
    --size 100 --batch 100 --clients 4 --window 64 --records "$rec" \
    --label "stall" > "$TMP/stall.out" &
  dpid=$!
  PIDS+=("$dpid")
  sleep 0.3
  kill -STOP "$fpid"
  log "  follower $fpid stopped under load"
  wait "$dpid" || rc=$?
  cl_untrack "$dpid"
  isr="$("$SEGLOG_CLI" cluster --endpoint "$CL_LEADER" --format json | python3 -c '
import json, sys
print(len([t for t in json.load(sys.stdin)["topics"] if t["name"] == "bench"][0]["isr"]))' || echo 0)"
  kill -CONT "$fpid"
  cl_sample_stop
  line="$(grep '^{' "$TMP/stall.out" || true)"
  [ $rc = 0 ] && [ -n "$line" ] || { tail -n 5 "$TMP/cl$CL_N"/n*/log >&2; die "stall: the producer failed (exit $rc)"; }
  rss="$(cl_rss_json "$TMP/rss-stall" "$lpid" "$fpid")"
  printf '{"run": %d, "workload": "cluster-stall", "durable": 0, "rss_mib": %s, "isr_during": %s, %s\n' \
    "$RUN" "$rss" "$isr" "${line#\{}" >> "$RESULTS"
  log "  stall: leader, stopped follower RSS MiB $rss; $(printf '%s' "$line" | cut -c1-120)"
  cl_stop
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r[0] <= float(sys.argv[2]) else 1)' \
    "$rss" "$stall_rss_mib" || die "stall: the leader's RSS passed $stall_rss_mib MiB: $rss"
}

cluster_failover() {
  local out="$TMP/failover.out" med ms
  log "  failover soak: $cluster_kills kills"
  timeout --kill-after=10 $((cluster_kills * 30 + 120)) \
    bash "$root/scripts/soak-failover.sh" "$cluster_kills" "$(cd "$(dirname "$SEGLOGD")/../.." && pwd)" \
    > "$out" 2>&1 || { tail -30 "$out" >&2; die "the failover soak failed"; }
  line="$(grep 'failover ms: min' "$out")" || die "the failover soak printed no summary"
  med="$(sed -n 's/.*median \([0-9]*\) max.*/\1/p' <<<"$line")"
  ms="$(sed -n 's/.*zk session \([0-9]*\) ms.*/\1/p' <<<"$line")"
  printf '{"run": %d, "workload": "cluster-failover", "durable": 0, "system": "seglog-cluster", "load1": %s, "kills": %d, "min_ms": %s, "median_ms": %s, "max_ms": %s, "zk_session_ms": %s}\n' \
    "$RUN" "$(cut -d' ' -f1 /proc/loadavg)" "$cluster_kills" "$(sed -n 's/.*min \([0-9]*\) median.*/\1/p' <<<"$line")" "$med" \
    "$(sed -n 's/.*max \([0-9]*\) (zk.*/\1/p' <<<"$line")" "$ms" >> "$RESULTS"
  log "  $line"
}
