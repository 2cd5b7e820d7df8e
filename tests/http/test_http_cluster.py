#!/usr/bin/python3
"""The HTTP listener in cluster mode (docs/HTTP.md) on a real 3-node cluster
(tests/cluster/replharness.py: real ZooKeeper, real seglogd processes):
/readyz says ready once registered and every topic is known; the gateway
behaves as the wire does (a produce to a follower is 409 NOT_LEADER naming
the leader; to the leader, acks=all, 200); /metrics passes promtool and
shows the ISR, the ZooKeeper session and each follower's lag; /v1/status
shows nodes, leaders and ISR. Every wait is bounded.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import replharness as h
from replharness import check
import httputil
from httputil import call, call_json, metric

TOPIC = "web"


def http_of(c, nd):
    epf = os.path.join(c.root, "ep%d-%d" % (nd.id, nd.starts))
    for line in open(epf):
        k, _, v = line.strip().partition("=")
        if k == "http":
            return v
    raise h.Fail("node %d wrote no http= line" % nd.id)


def wait(pred, what, timeout=30):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        check(time.time() < deadline, "timed out: " + what)
        time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--zkctl", required=True)
    args = ap.parse_args()
    promtool = shutil.which("promtool")
    check(promtool, "promtool missing: scripts/deps.sh test installs prometheus")
    c = h.Cluster(args.seglogd, args.zkctl, extra=("--http", "127.0.0.1:0"))
    try:
        web = {nd.id: http_of(c, nd) for nd in c.nodes}
        for nd in c.nodes:
            st, j = call_json(web[nd.id], "GET", "/readyz")
            wait(lambda: call_json(web[nd.id], "GET", "/readyz")[0] == 200,
                 "node %d ready" % nd.id)
            st, j = call_json(web[nd.id], "GET", "/readyz")
            check(j["cluster"] and j["registered"] and j["node_id"] == nd.id, j)
        # The first produce creates the topic (any node); then find its leader.
        st, j = httputil.post_records(web[1], TOPIC, [{"value": "first"}], "?acks=all")
        check(st in (200, 409), (st, j))
        lid = wait(lambda: next((t.leader for t in h.metadata(c, c.nodes[0]).topics
                                 if t.name == TOPIC and t.leader > 0), None), "a leader")
        lead = next(nd for nd in c.nodes if nd.id == lid)
        fol = next(nd for nd in c.nodes if nd.id != lid)
        st, j = httputil.post_records(web[fol.id], TOPIC, [{"value": "x"}], "?acks=all")
        check((st, j["error"], j["leader_endpoint"]) == (409, "NOT_LEADER", lead.endpoint),
              (st, j))
        for i in range(5):
            st, j = httputil.post_records(web[lid], TOPIC, [{"value": "v%d" % i}] * 10,
                                          "?acks=all")
            check(st == 200 and j["count"] == 10, (st, j))
        end = j["offset"] + 10
        h.wait_full_isr(c, TOPIC, c.nodes, end)
        # The leader's metrics: promtool-clean, ISR 3, lag 0 for both followers.
        def scrape():
            return call(web[lid], "GET", "/metrics")[2].decode()
        lab = 'topic="%s"' % TOPIC
        text = wait(lambda: (lambda t: t if all(
            metric(t, "seglog_cluster_follower_lag_records", '%s,follower="%d"' % (lab, nd.id)) == 0
            for nd in c.nodes if nd.id != lid) else None)(scrape()), "followers caught up")
        r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        check(r.returncode == 0 and not (r.stdout + r.stderr), (r.stdout + r.stderr).decode())
        check(metric(text, "seglog_cluster_topic_isr_size", lab) == 3, "isr")
        check(metric(text, "seglog_cluster_topic_is_leader", lab) == 1, "is_leader")
        check(metric(text, "seglog_cluster_topic_high_watermark", lab) == end, "hw")
        check(metric(text, "seglog_zookeeper_session_up") == 1, "zk session")
        check(metric(text, "seglog_cluster_registered") == 1, "registered")
        check(metric(text, "seglog_cluster_nodes") == 3, "nodes")
        ftext = call(web[fol.id], "GET", "/metrics")[2].decode()
        check(metric(ftext, "seglog_cluster_topic_is_leader", lab) == 0, "follower is_leader")
        check(metric(ftext, "seglog_cluster_topic_leader", lab) == lid, "follower's leader")
        # The follower serves reads up to its high watermark, over HTTP too.
        st, j = call_json(web[fol.id], "GET", "/v1/topics/%s/records?offset=0&max=1000" % TOPIC)
        check(st == 200 and j["end_offset"] <= end, (st, j))
        # The status data: nodes, leader, ISR.
        st, j = call_json(web[fol.id], "GET", "/v1/status")
        cl = j["cluster"]
        check(cl["node_id"] == fol.id and len(cl["nodes"]) == 3, cl)
        t = next(x for x in cl["topics"] if x["name"] == TOPIC)
        check(t["leader"] == lid and sorted(t["isr"]) == [1, 2, 3], t)
        for nd in c.nodes:
            nd.stop()
        print("ok")
    finally:
        c.close()


if __name__ == "__main__":
    main()
