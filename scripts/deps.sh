#!/usr/bin/env bash
# Install the Debian packages seglog needs, if any are missing.
# Usage: scripts/deps.sh [build|test|bench]   (default: test)
# libhiredis-dev: the Redis driver of bench/compare (its smoke test is in
# ctest); bench/compare/run.sh installs the servers and Node itself.
# libzookeeper-mt-dev, libcjson-dev: the cluster layer (src/cluster);
# zookeeper (and the JRE it pulls in): the server its tests start.
# libnats-dev, nats-server: the JetStream R3 driver of bench/compare's cluster
# group and the servers it starts (its smoke test is in ctest).
# libmicrohttpd-dev (and libcjson-dev): seglogd's HTTP listener; prometheus
# (promtool), chromium, chromium-driver, python3-selenium: its tests.
set -euo pipefail

need=(build-essential cmake pkg-config libzmq3-dev libczmq-dev libprotobuf-c-dev
      protobuf-c-compiler protobuf-compiler libzookeeper-mt-dev libcjson-dev libmicrohttpd-dev)
case "${1:-test}" in
  build) ;;
  test)  need+=(libcmocka-dev python3-zmq python3-protobuf valgrind clang
               libclang-rt-14-dev libhiredis-dev zookeeper libnats-dev nats-server
               prometheus chromium chromium-driver python3-selenium) ;;
  bench) need+=(libcmocka-dev python3-zmq python3-protobuf libhiredis-dev libnats-dev nats-server
               zookeeper) ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# Packaged servers (redis-server) must not start system-wide services: a
# policy-rc.d that says no, for this install only, unless one exists.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
