#!/usr/bin/python3
"""test_cluster_curve.py - node-to-node CURVE (docs/SECURITY.md, "Cluster")
on a real ZooKeeper and three real seglogd (replharness.py).

Each node has its own certificate (seglog keygen); every node's
--clients-dir holds the public certificates of nodes 1 and 2 and of a
client, not node 3's, and the ACL gives nodes 1-3 `replicate` and the
client `produce,consume`. So:
  - followers fetch over CURVE with the leader's key from its ZooKeeper
    registration: a node among 1, 2 that follows catches up;
  - node 3, whose key no node knows, cannot fetch: its copy stays empty
    and it is never in the ISR;
  - the client's key, known but without `replicate`, gets PERMISSION_DENIED
    on the replication socket;
  - every node registered its public key;
  - Metadata carries each node's key, so a client given only one node's
    key reaches the leader, which has another key: `seglog produce` (the
    pipelined producer), `seglog cluster` and the Python client, each
    bootstrapped from a node that is not the leader.
Short: one topic, a few records, bounded waits.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import json

import zmq
import zmq.auth

import replharness as h
import seglog_client as sc
from replharness import check
import seglog_pb2 as pb

TOPIC = "sec"


def keygen(seglog, name, d):
    subprocess.run([seglog, "keygen", name, "--dir", d], check=True, capture_output=True)
    return zmq.auth.load_certificate(os.path.join(d, name + ".key_secret"))


def conn(c, node, keys, who="client"):
    pub, sec = keys[who]
    return h.Conn(c.ctx, node.endpoint, (keys["n%d" % node.id][0], pub, sec))


def call(c, node, keys, req, who="client", timeout_ms=3000):
    k = conn(c, node, keys, who)
    try:
        return k.call(req, timeout_ms)
    finally:
        k.close()


def metadata(c, node, keys):
    req = pb.Request()
    req.metadata.SetInParent()
    r = call(c, node, keys, req)
    check(r is not None and r.WhichOneof("body") == "metadata", "metadata: %s" % r)
    return r.metadata


def next_offset(c, node, keys):
    req = pb.Request()
    req.offsets.topic = TOPIC
    r = call(c, node, keys, req)
    if r is None or r.WhichOneof("body") != "offsets":
        return None
    return r.offsets.next_offset


def clients_follow_node_keys(c, keys, root, args, leader):
    """Per-node keys from Metadata: a client that knows only a follower's
    key produces through the leader (another key)."""
    kd = os.path.join(root, "keys")
    m = metadata(c, leader, keys)
    got = {n.id: n.curve_public_key for n in m.nodes if n.alive}
    want = {nd.id: keys["n%d" % nd.id][0].decode() for nd in c.nodes}
    check(got == want, "Metadata node keys %s, want %s" % (got, want))
    other = next(nd for nd in c.nodes if nd is not leader)
    auth = ["--endpoint", other.endpoint, "--curve-server-key",
            os.path.join(kd, "n%d.key" % other.id), "--curve-cert",
            os.path.join(kd, "client.key_secret"), "--timeout", "3000"]
    p = subprocess.run([args.seglog, "cluster", "--format", "json"] + auth,
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "seglog cluster: %d %s" % (p.returncode, p.stderr))
    j = json.loads(p.stdout)
    check({n["id"]: n["curve_public_key"] for n in j["nodes"] if n["alive"]} == want,
          "seglog cluster --format json keys: %s" % j["nodes"])
    p = subprocess.run([args.seglog, "produce", "-t", TOPIC] + auth, input="d\ne\n",
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and len(p.stdout.split()) == 2,
          "seglog produce via node %d (leader %d, another key): %d %r %s"
          % (other.id, leader.id, p.returncode, p.stdout, p.stderr))
    cl = sc.Client(other.endpoint, pub_endpoint=None, timeout_ms=3000, retries=2,
                   curve_server_key=os.path.join(kd, "n%d.key" % other.id),
                   curve_cert=os.path.join(kd, "client.key_secret"))
    try:
        offs = cl.produce(TOPIC, b"f")
    finally:
        cl.close()
    print("  via node %d with only its key: seglog produce %s, Python %s (leader %d)"
          % (other.id, p.stdout.split(), offs, leader.id), flush=True)
    check(next_offset(c, leader, keys) == 6, "leader's end after the client produces")


def run(c, keys, root, args):
    # every node registered its public key in ZooKeeper
    for nd in c.nodes:
        check("curve_public_key=" + keys["n%d" % nd.id][0].decode() in nd.log_text(),
              "node %d did not register its CURVE public key" % nd.id)
    # produce through the topic's leader (following NOT_LEADER by endpoint)
    by_ep = {nd.endpoint: nd for nd in c.nodes}
    target = c.nodes[0]
    deadline = time.time() + 30
    while True:
        r = call(c, target, keys, h.produce_req(TOPIC, [b"a", b"b", b"c"], acks=1))
        if r is not None and r.WhichOneof("body") == "produce":
            break
        check(time.time() < deadline, "produce never succeeded: %s" % r)
        if r is not None and r.WhichOneof("body") == "error" and r.error.leader_endpoint:
            target = by_ep[r.error.leader_endpoint]
        else:
            time.sleep(0.2)
    leader = target
    print("leader: node %d" % leader.id, flush=True)
    # the known follower (1 or 2) catches up over CURVE; node 3 never does
    known = [nd for nd in c.nodes if nd.id in (1, 2) and nd is not leader]
    deadline = time.time() + 30
    while not all(next_offset(c, nd, keys) == 3 for nd in known):
        check(time.time() < deadline, "a known follower did not catch up")
        time.sleep(0.2)
    if leader.id != 3:
        n3 = c.nodes[2]
        check(next_offset(c, n3, keys) in (None, 0), "node 3 (unknown key) got records")
        m = metadata(c, leader, keys)
        t = next((x for x in m.topics if x.name == TOPIC), None)
        check(t is not None and 3 not in t.isr, "node 3 is in the ISR: %s" % t)
    # a known key without `replicate` is refused on the replication socket
    ep = re.findall(r"replication endpoint (tcp://\S+)", leader.log_text())[-1]
    s = c.ctx.socket(zmq.DEALER)
    s.linger = 0
    s.curve_serverkey = keys["n%d" % leader.id][0]
    s.curve_publickey, s.curve_secretkey = keys["client"]
    s.connect(ep)
    req = pb.Request(id=7)
    req.fetch.topic = TOPIC
    req.fetch.replica_id = 2
    req.fetch.fetch_offset = 0
    s.send(req.SerializeToString())
    check(s.poll(5000), "no answer on the replication socket")
    resp = pb.Response()
    resp.ParseFromString(s.recv())
    s.close()
    check(resp.WhichOneof("body") == "error" and resp.error.code == pb.PERMISSION_DENIED,
          "client key fetched: %s" % resp)
    clients_follow_node_keys(c, keys, root, args, leader)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--seglog", required=True)
    ap.add_argument("--zkctl", required=True)
    args = ap.parse_args()
    import tempfile
    root = tempfile.mkdtemp(prefix="seglog-curve-cluster-")
    kd = os.path.join(root, "keys")
    clients = os.path.join(root, "clients")
    os.makedirs(kd)
    os.makedirs(clients)
    keys = {n: keygen(args.seglog, n, kd) for n in ("n1", "n2", "n3", "client")}
    for n in ("n1", "n2", "client"):
        with open(os.path.join(kd, n + ".key")) as f, \
                open(os.path.join(clients, n + ".key"), "w") as g:
            g.write(f.read())
    acl = os.path.join(root, "acl")
    with open(acl, "w") as f:
        f.write("name:n1 * replicate\nname:n2 * replicate\nname:n3 * replicate\n"
                "name:client * produce,consume\n")
    node_extra = {i: ["--curve-cert", os.path.join(kd, "n%d.key_secret" % i),
                      "--clients-dir", clients, "--acl", acl, "--replication-factor", "3",
                      "--min-insync", "1"] for i in (1, 2, 3)}
    c = h.Cluster(args.seglogd, args.zkctl, session_ms=2000, lag_ms=1000, node_extra=node_extra,
                  root=root)
    ok = False
    try:
        run(c, keys, root, args)
        ok = True
    except h.Fail as e:
        print("FAIL: %s (logs in %s)" % (e, c.root), flush=True)
    finally:
        c.close(keep=not ok)
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
