#!/usr/bin/env bash
# ZooKeeper and a 3-node seglog cluster on loopback, with one command
# (docs/CLUSTER.md). Runs in the foreground; Ctrl-C (or SIGTERM) stops
# everything (the nodes cleanly).
#
#   scripts/cluster.sh [SEGLOGD]
#
#   SEGLOGD               the seglogd binary (default build/src/server/seglogd)
#   SEGLOG_CLUSTER_DIR    data, config and logs (default ./cluster-data)
#   SEGLOG_ZK_PORT        ZooKeeper's client port (default 2181)
#   SEGLOG_BASE_PORT      node i (1..3) binds requests on BASE+10*(i-1), PUB on
#                         BASE+10*(i-1)+1, replication on BASE+10*(i-1)+2 (default 5555)
#
# Then, for example:
#   seglog produce --endpoint tcp://127.0.0.1:5555,tcp://127.0.0.1:5565,tcp://127.0.0.1:5575 -t t x
#   seglog cluster --endpoint tcp://127.0.0.1:5555    (nodes, leaders, epochs, ISR, HW)
set -euo pipefail
cd "$(dirname "$0")/.."
seglogd="${1:-build/src/server/seglogd}"
dir="${SEGLOG_CLUSTER_DIR:-./cluster-data}"
zkport="${SEGLOG_ZK_PORT:-2181}"
base="${SEGLOG_BASE_PORT:-5555}"
[ -x "$seglogd" ] || { echo "no seglogd at $seglogd (build first, or pass its path)" >&2; exit 2; }
[ -f /usr/share/java/zookeeper.jar ] || { echo "needs Debian's zookeeper (scripts/deps.sh test)" >&2; exit 2; }

mkdir -p "$dir/zk/data"
cat > "$dir/zk/zoo.cfg" <<CFG
tickTime=200
dataDir=$(cd "$dir/zk/data" && pwd)
clientPort=$zkport
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=ruok
CFG
cp="$dir/zk:/usr/share/java/zookeeper.jar"
if [ -f /usr/share/java/slf4j-log4j12.jar ] && [ -f /usr/share/java/log4j-1.2.jar ]; then
  cp="$cp:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar"
  printf 'log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\nlog4j.appender.F.File=%s\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\nlog4j.appender.F.layout.ConversionPattern=%%d %%-5p %%c{1}: %%m%%n\n' \
    "$(cd "$dir/zk" && pwd)/zk.log" > "$dir/zk/log4j.properties"
fi

pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
  kill -TERM "${pids[0]}" 2>/dev/null || true
  wait 2>/dev/null || true
  echo "cluster stopped (data in $dir)"
}
trap stop INT TERM EXIT

java -Dzookeeper.jmx.log4j.disable=true -cp "$cp" \
  org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zk/zoo.cfg" > "$dir/zk/zk.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do
  if { exec 3<>/dev/tcp/127.0.0.1/"$zkport"; } 2>/dev/null; then
    printf 'ruok' >&3; ok=$(timeout 2 cat <&3 || true); exec 3<&- 3>&-
    [ "$ok" = imok ] && break
  fi
  sleep 0.2
done
[ "${ok:-}" = imok ] || { echo "ZooKeeper did not start (see $dir/zk/zk.out)" >&2; exit 1; }
echo "zookeeper: 127.0.0.1:$zkport"

for i in 1 2 3; do
  p=$((base + 10 * (i - 1)))
  mkdir -p "$dir/n$i"
  "$seglogd" --data-dir "$dir/n$i/data" --bind "tcp://127.0.0.1:$p" \
    --pub "tcp://127.0.0.1:$((p + 1))" --repl-bind "tcp://127.0.0.1:$((p + 2))" \
    --zookeeper "127.0.0.1:$zkport" --node-id "$i" > "$dir/n$i/seglogd.log" 2>&1 &
  pids+=($!)
  echo "node $i: requests tcp://127.0.0.1:$p, pub tcp://127.0.0.1:$((p + 1)), log $dir/n$i/seglogd.log"
done
echo "Ctrl-C stops the cluster."
wait -n "${pids[@]}" || true
echo "a process exited; stopping the rest" >&2
