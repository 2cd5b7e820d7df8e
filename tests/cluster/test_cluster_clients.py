#!/usr/bin/python3
"""test_cluster_clients.py - issue 13's client side against a real 3-node
cluster (replharness.py: a real ZooKeeper and three real seglogd):

  follower  `seglog produce --endpoint FOLLOWER` (a single endpoint) ends at
            the leader (the records are on the leader at the printed
            offsets); `seglog cluster` (text and json) shows what each
            node's Metadata shows; with the leader killed, `seglog consume
            --endpoint FOLLOWER` still reads every record from that follower
            (a single endpoint is honoured, not redirected).
  cli       kill -9 the leader while `seglog produce --endpoint A,B,C` reads
            stdin: it keeps going, exits 0, prints one offset per line, and
            every printed offset holds its line in the final log, and no
            line is stored twice; `seglog cluster --format json` shows the
            new leader.
  python    the Python client with a single follower endpoint ends at the
            leader; with a bootstrap list: produce across a kill
            -9 of the leader; every acknowledged offset holds its value,
            and no value is stored twice (idempotent produce);
            metadata() shows the new leader.
  idem      an idempotent batch resent to the new leader after a kill -9
            of the old one gets its original offsets; nothing is stored
            twice. A consumer group's commit (routed to the leader of
            __consumer_offsets) is still there after the failover.
  pipe      `seglog produce` with a full window across 3 kills -9 of the
            leader: every line stored exactly once (the pipelined producer
            is idempotent in cluster mode too).
  config    topic settings through any node land in ZooKeeper and on every
            replica (shown, in .topic_config, applied by retention), merge
            across nodes, survive a restart; a bad value changes nothing.
  pids      a node restarted with an empty data directory never hands out a
            producer id twice (the counter is in ZooKeeper too).
  truncate  Truncate through a follower reaches the leader; every replica
            follows it to the same lowest offset with the same records.
  create    `seglog create --replicas N`: on N nodes, refused past the live
            nodes and when it exists; two nodes creating it at once: once.
  delete    DeleteTopic through a follower: gone from ZooKeeper and every
            replica's disk; a produce starts it again, empty, everywhere.
  hwckpt    the checkpointed HW: a node restarted alone (after a clean stop
            of the cluster, and after kill -9 past the checkpoint interval)
            shows its records up to the HW it knew at once; a checkpoint of
            another incarnation of the topic (log_id) is not applied.
  isr       with both followers dead and the ISR shrunk to the leader, a
            produce (CLI and Python, bootstrap list) fails at once with
            NOT_ENOUGH_REPLICAS: returned, not retried until the timeout.
  tail      two `seglog tail --endpoint A,B,C` (one on the leader, one on a
            follower) and a Python Tail (on the leader, a bootstrap list)
            while `seglog produce --acks all` feeds the topic: kill -9 of
            the node the first reads (the leader), restart it, kill -9 of
            the node the second reads. Each tail moves to another replica
            and returns every record of the final log exactly once, in
            offset order, with no gap and nothing else.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

import replharness as h
from replharness import check

import seglog_client as sc

TOPIC = "ct"


def leader_node(c, topic, exclude=None, timeout_s=30):
    """The node every live node's Metadata names as the topic's leader."""
    deadline = time.time() + timeout_s
    while True:
        live = [nd for nd in c.nodes if nd.alive()]
        views = []
        for nd in live:
            try:
                views.append(h.metadata(c, nd, 2000))
            except h.Fail:
                views.append(None)
        leaders = set()
        for m in views:
            t = None if m is None else next((x for x in m.topics if x.name == topic), None)
            leaders.add(None if t is None else t.leader)
        if len(leaders) == 1:
            lid = leaders.pop()
            nd = next((n for n in live if n.id == lid), None)
            if nd is not None and nd is not exclude:
                return nd
        check(time.time() < deadline, "no agreed leader for %s: %s" % (topic, leaders))
        time.sleep(0.1)


def run(args, cmd, stdin=None, timeout=60):
    p = subprocess.run([args.seglog] + cmd, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def final_log(c, topic):
    live = [nd for nd in c.nodes if nd.alive()]
    h.converge(c, topic, live)
    lead = leader_node(c, topic)
    return {o: rec.value for o, _, rec in h.consume_all(c, lead, topic)}


def report_duplicates(log, what):
    seen = {}
    for v in log.values():
        seen[v] = seen.get(v, 0) + 1
    dups = sorted(v for v, n in seen.items() if n > 1)
    print("  %s: %d records in the final log, %d values stored more than once%s" %
          (what, len(log), len(dups), (": " + ", ".join(d.decode() for d in dups[:20])) if dups else ""))
    return dups


def t_follower(c, args):
    # Create the topic, learn its leader and a follower.
    rc, out, err = run(args, ["produce", "-t", TOPIC, "--endpoint", c.nodes[0].endpoint, "first"])
    check(rc == 0, "first produce: %d %s" % (rc, err))
    lead = leader_node(c, TOPIC)
    fol = next(nd for nd in c.nodes if nd is not lead)
    rc, out, err = run(args, ["produce", "-t", TOPIC, "--endpoint", fol.endpoint, "a", "b", "c"])
    check(rc == 0, "produce through follower %d: %d %s" % (fol.id, rc, err))
    offs = [int(x) for x in out.split()]
    check(len(offs) == 3, "three offsets: %r" % out)
    recs = {o: r.value for o, _, r in h.consume_all(c, lead, TOPIC)}
    for o, v in zip(offs, [b"a", b"b", b"c"]):
        check(recs.get(o) == v, "leader %d offset %d holds %r, not %r" % (lead.id, o, recs.get(o), v))
    print("  produce via follower %d: offsets %s, on leader %d" % (fol.id, offs, lead.id))
    # seglog cluster: text and json agree with the node's own Metadata.
    m = h.metadata(c, fol)
    t = next(x for x in m.topics if x.name == TOPIC)
    rc, out, err = run(args, ["cluster", "--endpoint", fol.endpoint, "--format", "json"])
    check(rc == 0, "cluster json: %d %s" % (rc, err))
    j = json.loads(out)
    check(j["node_id"] == fol.id, "answered by %s" % j["node_id"])
    check(sorted(n["id"] for n in j["nodes"] if n["alive"]) == [1, 2, 3], "nodes %s" % j["nodes"])
    jt = next(x for x in j["topics"] if x["name"] == TOPIC)
    check(jt["leader"] == lead.id and jt["leader_epoch"] == t.leader_epoch and
          sorted(jt["isr"]) == sorted(t.isr) and sorted(jt["replicas"]) == sorted(t.replicas),
          "json topic %s vs metadata %s" % (jt, t))
    rc, out, err = run(args, ["cluster", "--endpoint", fol.endpoint])
    check(rc == 0 and ("topic %s leader=%d epoch=%d" % (TOPIC, lead.id, t.leader_epoch)) in out,
          "cluster text: %r %s" % (out, err))
    # Wait until the follower has every record (its HW), then kill the
    # leader: consume given the follower's endpoint still reads them all.
    end = h.converge(c, TOPIC, c.nodes)
    lead.kill()
    rc, out, err = run(args, ["consume", "-t", TOPIC, "--endpoint", fol.endpoint, "--format", "raw"])
    check(rc == 0, "consume from follower %d with the leader dead: %d %s" % (fol.id, rc, err))
    check(out.split("\n")[:-1] == ["first", "a", "b", "c"] and end == 4,
          "follower's records: %r (end %d)" % (out, end))
    print("  consume --endpoint follower %d with leader %d dead: %d records" % (fol.id, lead.id, end))


class Feeder:
    """Feeds lines to `seglog produce` and collects its stdout as it comes."""

    def __init__(self, args, endpoints, extra=()):
        self.p = subprocess.Popen([args.seglog, "produce", "-t", TOPIC, "--endpoint",
                                   ",".join(endpoints), "--timeout", "2000", "--retries", "4"]
                                  + list(extra),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        h._procs.append(self.p)
        self.offsets = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.sent = 0

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.offsets.append(int(line))

    def acked(self):
        with self.lock:
            return len(self.offsets)

    def feed(self, n, pace=0.002):
        for _ in range(n):
            self.p.stdin.write(b"line-%d\n" % self.sent)
            self.p.stdin.flush()
            self.sent += 1
            time.sleep(pace)

    def wait_acked(self, n, timeout_s):
        deadline = time.time() + timeout_s
        while self.acked() < n:
            if self.p.poll() is not None:
                raise h.Fail("seglog produce exited early (%d): %s" %
                             (self.p.returncode, self.p.stderr.read().decode()))
            check(time.time() < deadline, "only %d of %d lines acknowledged" % (self.acked(), n))
            time.sleep(0.02)

    def finish(self, timeout_s=60):
        self.p.stdin.close()
        rc = self.p.wait(timeout=timeout_s)
        self.t.join(10)
        return rc, self.p.stderr.read().decode()


def t_cli(c, args):
    f = Feeder(args, [nd.endpoint for nd in c.nodes])
    f.feed(300)
    f.wait_acked(300, 30)
    lead = leader_node(c, TOPIC)
    # Keep lines flowing while the leader dies: some are in flight.
    t_kill = time.time()
    feeder = threading.Thread(target=f.feed, args=(400, 0.005))
    feeder.start()
    time.sleep(0.3)
    lead.kill()
    feeder.join()
    f.wait_acked(700, 60)
    print("  leader %d killed; 700 lines acknowledged %.1f s after the kill" %
          (lead.id, time.time() - t_kill))
    f.feed(100)
    rc, err = f.finish()
    check(rc == 0, "seglog produce across the kill: exit %d: %s" % (rc, err))
    check(len(f.offsets) == f.sent == 800, "printed %d offsets for %d lines" % (len(f.offsets), f.sent))
    log = final_log(c, TOPIC)
    for i, o in enumerate(f.offsets):
        v = b"line-%d" % i
        check(log.get(o) == v, "printed offset %d of input line %d holds %r" % (o, i + 1, log.get(o)))
    # seglog produce is idempotent by default: a batch resent to the new
    # leader is stored once, even one that overtook an earlier batch.
    check(not report_duplicates(log, "cli"), "a line stored twice")
    check(len(log) == f.sent, "%d records stored for %d lines" % (len(log), f.sent))
    new = leader_node(c, TOPIC)
    rc, out, err = run(args, ["cluster", "--format", "json", "--endpoint",
                              ",".join(nd.endpoint for nd in c.nodes)])
    check(rc == 0, "cluster json after the kill: %d %s" % (rc, err))
    j = json.loads(out)
    jt = next(x for x in j["topics"] if x["name"] == TOPIC)
    check(jt["leader"] == new.id != lead.id, "cluster json: leader %s, want %d" % (jt["leader"], new.id))
    check(lead.id not in jt["isr"], "dead node %d still in the isr %s" % (lead.id, jt["isr"]))
    check(not any(n["alive"] for n in j["nodes"] if n["id"] == lead.id), "dead node shown alive")
    print("  new leader %d (epoch %d, isr %s); every printed offset holds its line" %
          (new.id, jt["leader_epoch"], jt["isr"]))


def t_python(c, args):
    eps = ",".join(nd.endpoint for nd in c.nodes)
    cl = sc.Client(eps, None, timeout_ms=2000, retries=4)
    try:
        acked = {}
        for i in range(100):
            acked[b"py-%d" % i] = cl.produce(TOPIC, b"py-%d" % i)
        m = cl.metadata()
        t = next(x for x in m.topics if x.name == TOPIC)
        lead = next(nd for nd in c.nodes if nd.id == t.leader)
        fol = next(nd for nd in c.nodes if nd is not lead)
        with sc.Client(fol.endpoint, None) as one:  # a single endpoint: a follower's
            acked[b"py-via-follower"] = one.produce(TOPIC, b"py-via-follower")
            check(one.endpoint == fol.endpoint, "the single endpoint was left")
        lead.kill()
        t0 = time.time()
        first_after = None
        for i in range(100, 300):
            acked[b"py-%d" % i] = cl.produce(TOPIC, b"py-%d" % i)
            if first_after is None:
                first_after = time.time() - t0
        print("  python: leader %d killed, first produce after it took %.1f s" %
              (lead.id, first_after))
        log = final_log(c, TOPIC)
        for v, o in acked.items():
            check(log.get(o) == v, "python acked %r at %d, the log holds %r" % (v, o, log.get(o)))
        check(not report_duplicates(log, "python"),
              "a value stored twice: the client's produces are idempotent")
        m = cl.cluster()
        t = next(x for x in m.topics if x.name == TOPIC)
        check(t.leader != lead.id and t.leader == leader_node(c, TOPIC).id,
              "python metadata: leader %d" % t.leader)
        check(not any(n.alive for n in m.nodes if n.id == lead.id), "dead node alive")
        print("  python: new leader %d epoch %d isr %s" % (t.leader, t.leader_epoch, list(t.isr)))
    finally:
        cl.close()


def t_isr(c, args):
    rc, out, err = run(args, ["produce", "-t", TOPIC, "--endpoint", c.nodes[0].endpoint, "x"])
    check(rc == 0, "first produce: %d %s" % (rc, err))
    lead = leader_node(c, TOPIC)
    for nd in c.nodes:
        if nd is not lead:
            nd.kill()
    deadline = time.time() + 30
    while True:  # the leader drops the dead followers from the ISR (--replica-lag-ms)
        t = next(x for x in h.metadata(c, lead).topics if x.name == TOPIC)
        if list(t.isr) == [lead.id]:
            break
        check(time.time() < deadline, "isr never shrank: %s" % list(t.isr))
        time.sleep(0.1)
    eps = ",".join(nd.endpoint for nd in c.nodes)
    t0 = time.time()
    rc, out, err = run(args, ["produce", "-t", TOPIC, "--endpoint", eps, "--timeout", "2000",
                              "--retries", "4", "y"])
    took = time.time() - t0
    check(rc == 1 and "not enough in-sync replicas" in err and not out,
          "produce with the isr at 1: %d %r %r" % (rc, out, err))
    check(took < 5, "NOT_ENOUGH_REPLICAS took %.1f s: retried?" % took)
    cl = sc.Client(eps, None, timeout_ms=2000, retries=4)
    try:
        t0 = time.time()
        try:
            cl.produce(TOPIC, b"z")
            raise h.Fail("python produce with the isr at 1 succeeded")
        except sc.ServerError as e:
            check(e.code == "NOT_ENOUGH_REPLICAS", "python: %s" % e)
        check(time.time() - t0 < 5, "python NOT_ENOUGH_REPLICAS retried")
    finally:
        cl.close()
    print("  isr [%d]: NOT_ENOUGH_REPLICAS reported in %.1f s, not retried" % (lead.id, took))


class TailProc:
    """`seglog tail --from earliest --endpoint LIST`, its stdout collected as
    (offset, value) pairs as it comes. pub is the first node's PUB endpoint:
    a tail that ignores the list (before failover) reads that node only."""

    def __init__(self, args, endpoints, pub):
        self.p = subprocess.Popen([args.seglog, "tail", "-t", TOPIC, "--from", "earliest",
                                   "--endpoint", ",".join(endpoints), "--pub-endpoint", pub,
                                   "--timeout", "2000", "--retries", "2"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        h._procs.append(self.p)
        self.recs = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            o, _, v = line.rstrip(b"\n").partition(b"\t")
            with self.lock:
                self.recs.append((int(o), v))

    def count(self):
        with self.lock:
            return len(self.recs)

    def wait_count(self, n, timeout_s, what):
        deadline = time.time() + timeout_s
        while self.count() < n:
            if self.p.poll() is not None:
                raise h.Fail("%s: seglog tail exited (%d): %s" %
                             (what, self.p.returncode, self.p.stderr.read().decode()))
            check(time.time() < deadline, "%s: printed %d of %d records in %d s" %
                  (what, self.count(), n, timeout_s))
            time.sleep(0.05)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=30)
        self.t.join(10)
        return rc, self.p.stderr.read().decode()


class PyTail:
    """The Python client's Tail in a thread (its own Client), from earliest,
    with a bootstrap list; records collected as (offset, value)."""

    def __init__(self, endpoints, pub):
        self.recs, self.err, self.stats = [], None, None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.t = threading.Thread(target=self._run, args=(",".join(endpoints), pub), daemon=True)
        self.t.start()

    def _run(self, eps, pub):
        try:
            with sc.Client(eps, pub, timeout_ms=2000, retries=2) as cl:
                with cl.open_tail(TOPIC, sc.EARLIEST) as tail:
                    while not self.stopping.is_set():
                        rec = tail.next(200)
                        if rec is not None:
                            with self.lock:
                                self.recs.append((rec.offset, rec.value))
                    self.stats = tail.stats()
        except Exception as e:  # reported by wait_count and stop
            self.err = e

    def count(self):
        with self.lock:
            return len(self.recs)

    def wait_count(self, n, timeout_s, what):
        deadline = time.time() + timeout_s
        while self.count() < n:
            check(self.err is None, "%s: the Python tail raised %r" % (what, self.err))
            check(time.time() < deadline, "%s: %d of %d records in %d s" %
                  (what, self.count(), n, timeout_s))
            time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        self.t.join(30)
        return self.err, self.stats


def t_tail(c, args):
    """Tails that fail over: every record exactly once, in order, across
    kills -9 of the node each tail reads."""
    eps = [nd.endpoint for nd in c.nodes]
    f = Feeder(args, eps, extra=["--acks", "all"])
    f.feed(200)
    f.wait_acked(200, 30)
    lead = leader_node(c, TOPIC)
    m = h.metadata(c, lead)
    t = next(x for x in m.topics if x.name == TOPIC)
    check(len(t.replicas) == 3, "topic %s has replicas %s" % (TOPIC, list(t.replicas)))
    pub = {n.id: n.pub_endpoint for n in m.nodes}
    fol = next(nd for nd in c.nodes if nd is not lead)

    def listed_first(nd):
        return [nd.endpoint] + [x.endpoint for x in c.nodes if x is not nd]

    t1 = TailProc(args, listed_first(lead), pub[lead.id])
    t2 = TailProc(args, listed_first(fol), pub[fol.id])
    py = PyTail(listed_first(lead), pub[lead.id])
    t1.wait_count(200, 30, "tail on leader %d" % lead.id)
    t2.wait_count(200, 30, "tail on follower %d" % fol.id)
    py.wait_count(200, 30, "python tail on leader %d" % lead.id)
    # 1. kill -9 the node tail 1 reads (the leader) with records flowing.
    feeder = threading.Thread(target=f.feed, args=(300, 0.005))
    feeder.start()
    time.sleep(0.5)
    lead.kill()
    t_kill = time.time()
    feeder.join()
    f.wait_acked(500, 60)
    t1.wait_count(500, 60, "tail 1 after leader %d was killed" % lead.id)
    py.wait_count(500, 60, "python tail after leader %d was killed" % lead.id)
    print("  leader %d killed: tail 1 printed 500 records %.1f s later" %
          (lead.id, time.time() - t_kill))
    # 2. the old leader back in the ISR; kill -9 the node tail 2 reads.
    lead.start()
    end = h.converge(c, TOPIC, c.nodes)
    h.wait_full_isr(c, TOPIC, c.nodes, end)
    feeder = threading.Thread(target=f.feed, args=(300, 0.005))
    feeder.start()
    time.sleep(0.5)
    fol.kill()
    t_kill = time.time()
    feeder.join()
    f.wait_acked(800, 60)
    t2.wait_count(800, 60, "tail 2 after node %d was killed" % fol.id)
    print("  node %d killed: tail 2 printed 800 records %.1f s later" %
          (fol.id, time.time() - t_kill))
    rc, err = f.finish()
    check(rc == 0, "seglog produce: exit %d: %s" % (rc, err))
    log = final_log(c, TOPIC)
    n = len(log)
    check(sorted(log) == list(range(n)), "the final log has gaps: %s" % sorted(log)[:10])
    for i, o in enumerate(f.offsets):
        check(log.get(o) == b"line-%d" % i, "acked offset %d holds %r" % (o, log.get(o)))
    for name, tp, victim in (("tail 1", t1, lead), ("tail 2", t2, fol)):
        tp.wait_count(n, 60, name)
        time.sleep(0.5)  # anything printed beyond the log would show now
        rc, err = tp.stop()
        check(rc == 0, "%s: exit %d: %s" % (name, rc, err))
        offs = [o for o, _ in tp.recs]
        check(offs == list(range(n)), "%s printed offsets %s... (%d lines) for a log of %d" %
              (name, [o for i, o in enumerate(offs) if o != i][:10], len(offs), n))
        bad = [(o, v) for o, v in tp.recs if log[o] != v]
        check(not bad, "%s printed values the log does not hold: %s" % (name, bad[:5]))
        check("moved to another replica" in err,
              "%s: no failover note after node %d was killed: %r" % (name, victim.id, err))
        print("  %s: %d records, each once, in order; stderr: %s" %
              (name, n, err.strip().replace("\n", " | ")))
    py.wait_count(n, 60, "python tail")
    time.sleep(0.5)
    err, st = py.stop()
    check(err is None and st is not None, "python tail: %r" % err)
    offs = [o for o, _ in py.recs]
    check(offs == list(range(n)), "python tail returned offsets %s... (%d) for a log of %d" %
          ([o for i, o in enumerate(offs) if o != i][:10], len(offs), n))
    check(all(log[o] == v for o, v in py.recs), "python tail returned values the log lacks")
    check(st.failovers >= 1 and st.epochs == 0, "python tail stats %s" % (st,))
    print("  python tail: %d records, each once, in order; %d failovers, no epoch change" %
          (n, st.failovers))


def _idem_send(c, node, pid, seq, values, timeout_s=30):
    """A raw idempotent produce (acks=all) to node, retried while the node
    is not (yet) the leader: (offset, count)."""
    req = h.produce_req("idem", values, acks=2)
    req.produce.producer_id = pid
    req.produce.sequence = seq
    deadline = time.time() + timeout_s
    while True:
        conn = h.Conn(c.ctx, node.endpoint)
        try:
            r = conn.call(req, 3000)
        finally:
            conn.close()
        if r is not None and r.WhichOneof("body") == "produce":
            return r.produce.offset, r.produce.count
        what = "no reply" if r is None else "%s %s" % (r.WhichOneof("body"), r.error.message)
        check(time.time() < deadline, "idempotent produce seq %d to node %d: %s" % (seq, node.id, what))
        time.sleep(0.1)


def t_idem(c, args):
    """A batch resent to the new leader after a failover gets its original
    offsets: the new leader rebuilt the producer state from the records it
    replicated. Nothing is appended twice."""
    eps = ",".join(nd.endpoint for nd in c.nodes)
    with sc.Client(eps, None, timeout_ms=2000, retries=4) as cl:
        cl.produce("idem", b"start")  # creates the topic (idempotently too)
    lead = leader_node(c, "idem")
    conn = h.Conn(c.ctx, c.nodes[0].endpoint)
    try:
        req = h.pb.Request()
        req.init_producer_id.SetInParent()
        r = conn.call(req)
    finally:
        conn.close()
    check(r is not None and r.WhichOneof("body") == "init_producer_id", "InitProducerId: %s" % r)
    pid = r.init_producer_id.producer_id
    check(pid >> 40 == c.nodes[0].id + 1, "producer id %x lacks node %d's prefix" % (pid, c.nodes[0].id))
    # Consumer groups: the commit goes to the leader of __consumer_offsets
    # (NOT_LEADER is followed) and is replicated with acks=all.
    with sc.Client(eps, None, timeout_ms=2000, retries=4) as cl:
        cl.commit_offset("cg", "idem", 7, "m1")
        check(cl.fetch_offset("cg", "idem") == (7, "m1"), "fetch_offset before the failover")
    sent = {}
    for seq in range(5):
        sent[seq] = _idem_send(c, lead, pid, seq, [b"i%d-a" % seq, b"i%d-b" % seq])
    check(_idem_send(c, lead, pid, 4, [b"i4-a", b"i4-b"]) == sent[4], "duplicate on the old leader")
    lead.kill()
    new = leader_node(c, "idem", exclude=lead)
    # The producer never saw the replies of its last batches: it resends them.
    for seq in (3, 4):
        got = _idem_send(c, new, pid, seq, [b"i%d-a" % seq, b"i%d-b" % seq])
        check(got == sent[seq], "seq %d resent to the new leader %d: %s, originally %s" %
              (seq, new.id, got, sent[seq]))
    nxt = _idem_send(c, new, pid, 5, [b"i5-a"])
    check(nxt == (sent[4][0] + 2, 1), "seq 5 after the failover: %s" % (nxt,))
    deadline = time.time() + 30
    while True:  # the commit survives the failover (whichever node led __consumer_offsets)
        try:
            with sc.Client(",".join(nd.endpoint for nd in c.nodes if nd.alive()), None,
                           timeout_ms=2000, retries=2) as cl:
                got = cl.fetch_offset("cg", "idem")
            break
        except (sc.ServerError, sc.SeglogTimeout) as e:
            check(time.time() < deadline, "fetch_offset after the failover: %s" % e)
            time.sleep(0.2)
    check(got == (7, "m1"), "fetch_offset after the failover: %s" % (got,))
    log = final_log(c, "idem")
    check(not report_duplicates(log, "idem"), "a value stored twice")
    check(len(log) == 12, "%d records in the log, want 12" % len(log))
    print("  idem: leader %d killed, seq 3 and 4 resent to %d got their original offsets" %
          (lead.id, new.id))


def wait_isr_all(c, topic, timeout_s):
    """The topic's leader shows every node in the ISR."""
    deadline = time.time() + timeout_s
    while True:
        lead = leader_node(c, topic)
        try:
            t = next((x for x in h.metadata(c, lead, 2000).topics if x.name == topic), None)
        except h.Fail:
            t = None
        if t is not None and sorted(t.isr) == sorted(nd.id for nd in c.nodes):
            return
        check(time.time() < deadline, "the ISR never held every node again: %s" % t)
        time.sleep(0.2)


def t_pipe(c, args, kills=3, rate_chunk=500, limit=1000000):
    """`seglog produce` with a steady flood on stdin (500 lines every 20 ms,
    at most 20 000 ahead: batches of up to 1000 lines keep flowing, several
    in flight) across
    kill -9 of the leader, 3 times (the victim restarted and back in the ISR
    before the next kill). Batches the old leader stored and replicated but
    never acknowledged are resent to the new one, some after later batches:
    each line is stored exactly once, and every printed offset holds its
    line."""
    f = Feeder(args, [nd.endpoint for nd in c.nodes])
    stop = threading.Event()

    def feed():
        # At most 20 000 lines ahead of the acknowledgements: the window
        # stays full while a slow build (TSan) or a failover holds it up.
        while not stop.is_set() and f.sent < limit:
            if f.sent - f.acked() > 20000:
                time.sleep(0.005)
                continue
            f.p.stdin.write(b"".join(b"pipe-%d\n" % i for i in range(f.sent, f.sent + rate_chunk)))
            f.p.stdin.flush()
            f.sent += rate_chunk
            time.sleep(0.02)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    f.wait_acked(5000, 60)
    for k in range(kills):
        lead = leader_node(c, TOPIC)
        at = f.acked()
        lead.kill()
        f.wait_acked(at + 3000, 120)
        print("  kill %d: leader %d after %d acknowledged lines; 3000 more acknowledged" %
              (k + 1, lead.id, at), flush=True)
        lead.start()
        wait_isr_all(c, TOPIC, 60)
        f.wait_acked(f.acked() + 3000, 120)
    stop.set()
    feeder.join(30)
    check(f.sent < limit, "the feeder reached its limit of %d lines before the kills were done" % limit)
    rc, err = f.finish(120)
    check(rc == 0, "seglog produce across %d kills: exit %d: %s" % (kills, rc, err))
    check(len(f.offsets) == f.sent, "printed %d offsets for %d lines" % (len(f.offsets), f.sent))
    log = final_log(c, TOPIC)
    for i, o in enumerate(f.offsets):
        check(log.get(o) == b"pipe-%d" % i, "printed offset %d of line %d holds %r" % (o, i, log.get(o)))
    check(not report_duplicates(log, "pipe"), "a line stored twice")
    check(len(log) == f.sent, "%d records stored for %d lines" % (len(log), f.sent))


def config_of(args, nd, topic):
    """A node's `seglog config --get`: {key: (value, effective)}."""
    rc, out, err = run(args, ["config", "-t", topic, "--get", "--endpoint", nd.endpoint])
    check(rc == 0, "config --get on node %d: %d %s" % (nd.id, rc, err))
    return {k: (v, e) for k, v, e in (ln.split() for ln in out.strip().split("\n"))}


def wait_config(args, c, topic, want, nodes, timeout_s=20):
    """Every node in nodes shows want (key -> value), and its .topic_config
    file says the same."""
    deadline = time.time() + timeout_s
    while True:
        got = {nd.id: config_of(args, nd, topic) for nd in nodes}
        if all(all(g[k][0] == v for k, v in want.items()) for g in got.values()):
            break
        check(time.time() < deadline, "settings %s never showed on every node: %s" % (want, got))
        time.sleep(0.1)
    lines = sorted("%s=%s" % (k, v) for k, v in want.items() if v != "-")
    for nd in nodes:
        path = os.path.join(nd.topic_dir(topic), ".topic_config")
        have = sorted(open(path).read().split()) if os.path.exists(path) else []
        check(have == lines, "node %d's .topic_config holds %s, want %s" % (nd.id, have, lines))


def t_config(c, args):
    """Topic settings live in ZooKeeper (/seglog/topics/<t>/config): set
    through any replica, every replica shows and applies them (retention
    runs on each node), two nodes' changes to different keys merge, a bad
    value changes nothing, and a restarted node keeps them."""
    eps = ",".join(nd.endpoint for nd in c.nodes)
    rc, out, err = run(args, ["produce", "-t", TOPIC, "--endpoint", eps, "first"])
    check(rc == 0, "first produce: %d %s" % (rc, err))
    h.converge(c, TOPIC, c.nodes)
    lead = leader_node(c, TOPIC)
    fol = [nd for nd in c.nodes if nd is not lead]
    wait_config(args, c, TOPIC, {"retention.bytes": "-", "retention.ms": "-"}, c.nodes)
    # Through a follower: every node gets it.
    rc, out, err = run(args, ["config", "-t", TOPIC, "--endpoint", fol[0].endpoint,
                              "--set", "retention.bytes=8192"])
    check(rc == 0 and "retention.bytes 8192 8192" in out, "config --set: %d %r %s" % (rc, out, err))
    wait_config(args, c, TOPIC, {"retention.bytes": "8192", "retention.ms": "-"}, c.nodes)
    # Another key through another node: both kept.
    rc, out, err = run(args, ["config", "-t", TOPIC, "--endpoint", fol[1].endpoint,
                              "--set", "retention.ms=3600000"])
    check(rc == 0, "config --set retention.ms: %d %s" % (rc, err))
    both = {"retention.bytes": "8192", "retention.ms": "3600000"}
    wait_config(args, c, TOPIC, both, c.nodes)
    # A bad value: a precise error, nothing changed anywhere.
    rc, out, err = run(args, ["config", "-t", TOPIC, "--endpoint", lead.endpoint,
                              "--set", "retention.bytes=12x", "--set", "retention.ms=5"])
    check(rc != 0 and "retention.bytes: expected a whole number" in err,
          "a bad value: %d %r %r" % (rc, out, err))
    wait_config(args, c, TOPIC, both, c.nodes)
    # Retention applies on every node: 8 KiB kept of ~60 KiB in 4 KiB segments.
    cl = sc.Client(eps, None, timeout_ms=2000, retries=4)
    try:
        for i in range(60):
            cl.produce_batch(TOPIC, [b"r" * 100] * 10)
    finally:
        cl.close()
    end = h.converge(c, TOPIC, c.nodes)
    deadline = time.time() + 30
    while True:
        lows = {nd.id: h.offsets(c, nd, TOPIC).lowest_offset for nd in c.nodes}
        if all(lo > 0 for lo in lows.values()):
            break
        check(time.time() < deadline, "retention did not run on every node: lowest %s" % lows)
        time.sleep(0.2)
    check(all(end - lo < 400 for lo in lows.values()), "too much kept: lowest %s end %d" % (lows, end))
    print("  retention.bytes=8192 set through node %d: lowest offsets %s of %d" %
          (fol[0].id, lows, end))
    # A restarted node keeps them (from ZooKeeper and from its own file).
    fol[0].stop()
    fol[0].start()
    wait_config(args, c, TOPIC, both, c.nodes)
    # Unset through the leader: the server default again, everywhere.
    rc, out, err = run(args, ["config", "-t", TOPIC, "--endpoint", lead.endpoint,
                              "--set", "retention.bytes=", "--set", "retention.ms="])
    check(rc == 0, "config unset: %d %s" % (rc, err))
    wait_config(args, c, TOPIC, {"retention.bytes": "-", "retention.ms": "-"}, c.nodes)


def _init_pid(c, nd):
    conn = h.Conn(c.ctx, nd.endpoint)
    try:
        req = h.pb.Request()
        req.init_producer_id.SetInParent()
        r = conn.call(req, 10000)
        check(r is not None and r.WhichOneof("body") == "init_producer_id",
              "InitProducerId on node %d: %s" % (nd.id, r))
        return r.init_producer_id.producer_id
    finally:
        conn.close()


def _produce_pid(c, nd, topic, pid, seq):
    conn = h.Conn(c.ctx, nd.endpoint)
    try:
        req = h.produce_req(topic, [b"p%d" % seq])
        req.produce.producer_id = pid
        req.produce.sequence = seq
        r = conn.call(req, 10000)
        check(r is not None, "no answer from node %d" % nd.id)
        return r
    finally:
        conn.close()


def t_pids(c, args):
    """A node restarted with an empty data directory never hands out a
    producer id twice (its counter is in ZooKeeper too), and still knows
    the ids it handed out before as its own; made-up ids are refused."""
    nd = c.nodes[0]
    first = [_init_pid(c, nd) for _ in range(3)]
    check(first == sorted(set(first)), "ids not increasing: %s" % first)
    nd.stop()
    nd.start(wipe=True)
    again = _init_pid(c, nd)
    check(again > max(first), "node %d handed out %d again after losing its data directory "
          "(before: %s)" % (nd.id, again, first))
    check(again >> 40 == first[0] >> 40, "another prefix: %d %d" % (again, first[0]))
    # An id from before the wipe is still one of this node's (not "made up").
    r = _produce_pid(c, nd, TOPIC, first[0], 0)
    check(not (r.WhichOneof("body") == "error" and "never handed out" in r.error.message),
          "an id handed out before the wipe was refused: %s" % r.error.message)
    # One above everything it handed out is made up.
    r = _produce_pid(c, nd, TOPIC, again + 5000, 0)
    check(r.WhichOneof("body") == "error" and "never handed out" in r.error.message,
          "a made-up id was taken: %s" % r)
    print("  node %d: ids %s, after an empty restart %d" % (nd.id, first, again))


def t_truncate(c, args):
    """Truncate is applied by the leader and followed by every replica (the
    log start in the leader's fetch answers): sent through a follower's
    single endpoint it reaches the leader; every node then starts at the
    same offset and holds the same records above it."""
    eps = ",".join(nd.endpoint for nd in c.nodes)
    cl = sc.Client(eps, None, timeout_ms=2000, retries=4)
    try:
        for i in range(60):
            cl.produce_batch(TOPIC, [b"t%03d-%d" % (i, k) + b"." * 90 for k in range(10)])
    finally:
        cl.close()
    end = h.converge(c, TOPIC, c.nodes)
    lead = leader_node(c, TOPIC)
    fol = [nd for nd in c.nodes if nd is not lead]
    rc, out, err = run(args, ["truncate", "-t", TOPIC, "--before", str(end + 1),
                              "--endpoint", lead.endpoint])
    check(rc != 0 and "past its next offset" in err, "truncate past the end: %d %r" % (rc, err))
    rc, out, err = run(args, ["truncate", "-t", TOPIC, "--before", "300",
                              "--endpoint", fol[0].endpoint])
    check(rc == 0, "truncate through follower %d: %d %s" % (fol[0].id, rc, err))
    low = int(out.split()[-1])
    check(0 < low <= 300, "new lowest offset %d" % low)
    deadline = time.time() + 20
    while True:
        lows = {nd.id: h.offsets(c, nd, TOPIC).lowest_offset for nd in c.nodes}
        if all(v == low for v in lows.values()):
            break
        check(time.time() < deadline, "replicas never followed the truncate to %d: %s" % (low, lows))
        time.sleep(0.1)
    want = [rec.value for o, _, rec in h.consume_all(c, lead, TOPIC)]
    check(len(want) == end - low, "the leader holds %d records from %d to %d" % (len(want), low, end))
    for nd in fol:
        got = [rec.value for o, _, rec in h.consume_all(c, nd, TOPIC)]
        check(got == want, "node %d's records after the truncate differ from the leader's" % nd.id)
    # The Python client, given a follower only, also ends at the leader.
    with sc.Client(fol[1].endpoint, None, timeout_ms=2000) as one:
        low2 = one.truncate(TOPIC, 450)
    check(low < low2 <= 450, "second truncate: %d" % low2)
    deadline = time.time() + 20
    while not all(h.offsets(c, nd, TOPIC).lowest_offset == low2 for nd in c.nodes):
        check(time.time() < deadline, "replicas never followed the truncate to %d" % low2)
        time.sleep(0.1)
    print("  truncated to %d then %d of %d on every node (through followers %d and %d)" %
          (low, low2, end, fol[0].id, fol[1].id))


def t_create(c, args):
    """`seglog create --replicas N` makes the topic in ZooKeeper on N nodes:
    every node's Metadata shows it, a produce through the list lands on its
    leader; too many replicas is NOT_ENOUGH_REPLICAS and creates nothing; a
    second create is refused (or --if-not-exists); two nodes creating one
    topic at once create it once."""
    eps = ",".join(nd.endpoint for nd in c.nodes)
    rc, out, err = run(args, ["create", "-t", "made2", "--replicas", "2", "--endpoint", eps])
    check(rc == 0 and out == "created made2 replicas=2\n", "create: %d %r %s" % (rc, out, err))
    for nd in c.nodes:
        t = next((x for x in h.metadata(c, nd).topics if x.name == "made2"), None)
        check(t is not None and len(t.replicas) == 2 and t.leader in t.replicas,
              "node %d's metadata of made2: %s" % (nd.id, t))
    rc, out, err = run(args, ["produce", "-t", "made2", "--endpoint", eps, "a", "b"])
    check(rc == 0 and out.split() == ["0", "1"], "produce to made2: %d %r %s" % (rc, out, err))
    rc, out, err = run(args, ["create", "-t", "made2", "--endpoint", c.nodes[2].endpoint])
    check(rc == 1 and "exists already (replicas=2)" in err, "create again: %d %s" % (rc, err))
    rc, out, err = run(args, ["create", "-t", "made2", "--if-not-exists", "--endpoint", eps])
    check(rc == 0 and out == "exists made2 replicas=2\n", "--if-not-exists: %d %r" % (rc, out))
    rc, out, err = run(args, ["create", "-t", "big", "--replicas", "5", "--endpoint", eps])
    check(rc == 1 and "needs 5 replicas and fewer nodes are live" in err,
          "5 replicas of 3 nodes: %d %s" % (rc, err))
    with sc.Client(eps, None, timeout_ms=5000) as cl:
        try:
            cl.create_topic("big", 4)
            check(False, "4 replicas of 3 nodes were created")
        except sc.ServerError as e:
            check(e.code == "NOT_ENOUGH_REPLICAS", "4 replicas of 3 nodes: %s" % e.code)
    check(all(not any(x.name == "big" for x in h.metadata(c, nd).topics) for nd in c.nodes),
          "a refused create left topic big behind")
    # Two nodes at once: created once.
    results = {}

    def create_on(nd):
        with sc.Client(nd.endpoint, None, timeout_ms=5000) as cl:
            results[nd.id] = cl.create_topic("race", 3)

    ts = [threading.Thread(target=create_on, args=(nd,)) for nd in c.nodes[:2]]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    check(sorted(results.values()) == [(False, 3), (True, 3)],
          "two creates of one topic: %s" % results)
    print("  created made2 (2 replicas) and race (3, once of 2 tries); 5 replicas refused")


def t_delete(c, args):
    """DeleteTopic through a follower removes the topic from ZooKeeper and
    every replica deletes its log; a produce then starts it again, empty,
    on every node."""
    eps = ",".join(nd.endpoint for nd in c.nodes)
    rc, out, err = run(args, ["produce", "-t", "gone", "--endpoint", eps, "a", "b", "c"])
    check(rc == 0, "produce: %d %s" % (rc, err))
    h.converge(c, "gone", c.nodes)
    lead = leader_node(c, "gone")
    fol = next(nd for nd in c.nodes if nd is not lead)
    check(all(os.path.isdir(nd.topic_dir("gone")) for nd in c.nodes), "a replica has no log")
    rc, out, err = run(args, ["delete", "-t", "gone", "--endpoint", fol.endpoint])
    check(rc == 0 and out == "deleted 'gone'\n", "delete through node %d: %d %r %s" %
          (fol.id, rc, out, err))
    deadline = time.time() + 20
    while True:
        left = [nd.id for nd in c.nodes if os.path.isdir(nd.topic_dir("gone")) or
                h.offsets(c, nd, "gone") is not None or
                any(t.name == "gone" for t in h.metadata(c, nd).topics)]
        if not left:
            break
        check(time.time() < deadline, "nodes %s still hold topic gone" % left)
        time.sleep(0.1)
    rc, out, err = run(args, ["delete", "-t", "gone", "--endpoint", lead.endpoint])
    check(rc == 1 and "unknown topic" in err, "second delete: %d %s" % (rc, err))
    # Produced to again: a new, empty topic on every replica.
    rc, out, err = run(args, ["produce", "-t", "gone", "--endpoint", eps, "x"])
    check(rc == 0 and out.split() == ["0"], "produce after delete: %d %r %s" % (rc, out, err))
    h.converge(c, "gone", c.nodes)
    for nd in c.nodes:
        vals = [rec.value for o, _, rec in h.consume_all(c, nd, "gone")]
        check(vals == [b"x"], "node %d after the delete holds %s" % (nd.id, vals))
    print("  topic gone deleted through node %d on all nodes, then started again" % fol.id)


def _ckpt(nd):
    """The node's ~hw_checkpoint as {topic: (log_id, hw)} ({} if none)."""
    path = os.path.join(nd.dir, "data", "~hw_checkpoint")
    if not os.path.exists(path):
        return {}
    lines = open(path).read().split("\n")
    check(lines[0] == "seglog-hw-checkpoint 1" and int(lines[1]) == len(lines) - 3 and
          lines[-1] == "", "node %d: a bad checkpoint file: %r" % (nd.id, lines))
    return {t: (i, int(hw)) for t, i, hw in (ln.split(" ") for ln in lines[2:-1])}


def _isr_without(c, topic, gone, timeout_s=20):
    """Every live node's Metadata shows topic's ISR without node gone."""
    deadline = time.time() + timeout_s
    while True:
        isrs = []
        for nd in c.nodes:
            if nd.alive():
                t = next((x for x in h.metadata(c, nd).topics if x.name == topic), None)
                isrs.append(None if t is None else list(t.isr))
        if all(i is not None and gone.id not in i for i in isrs):
            return
        check(time.time() < deadline, "node %d never left the ISR: %s" % (gone.id, isrs))
        time.sleep(0.1)


def _alone_shows(c, args, nd, topic, want, values, timeout_s=8):
    """nd was started alone: its Offsets show the visible end `want`
    within timeout_s (no fetch can move its HW), and `seglog consume
    --endpoint` it prints values."""
    deadline = time.time() + timeout_s
    while True:
        o = h.offsets(c, nd, topic, 2000)
        end = None if o is None else o.next_offset
        if end == want:
            break
        check(time.time() < deadline, "node %d alone shows the visible end %s of %s, not %d" %
              (nd.id, end, topic, want))
        time.sleep(0.1)
    rc, out, err = run(args, ["consume", "-t", topic, "--endpoint", nd.endpoint, "--format", "raw",
                              "--timeout", "2000"])
    check(rc == 0 and out.split("\n")[:-1] == values,
          "consume from node %d alone: %d %r %s" % (nd.id, rc, out[:200], err))
    time.sleep(1.0)  # and it stays there: nothing can move it
    o = h.offsets(c, nd, topic, 2000)
    check(o is not None and o.next_offset == want, "node %d moved to %s" % (nd.id, o))


def t_hwckpt(c, args):
    """The checkpointed HW: a node restarted alone (its ISR peers down, so
    no fetch can move its HW) shows the records up to the HW it knew, after
    a clean stop and after a kill -9 past the checkpoint interval; a
    checkpoint of another incarnation (log_id) is not applied."""
    topic, eps = "hw", ",".join(nd.endpoint for nd in c.nodes)
    vals = ["a%d" % i for i in range(40)]
    rc, out, err = run(args, ["produce", "-t", topic, "--endpoint", eps, "--acks", "all"] + vals)
    check(rc == 0 and len(out.split()) == 40, "produce: %d %s" % (rc, err))
    h.converge(c, topic, c.nodes)
    lead = leader_node(c, topic)
    f = next(nd for nd in c.nodes if nd is not lead)
    rest = [nd for nd in c.nodes if nd is not f]
    # 1. Clean stop: f first (it leaves the ISR, so it can never lead alone),
    # then the others; f restarted alone shows all 40 at once.
    f.stop()
    _isr_without(c, topic, f)
    for nd in rest:
        nd.stop()
    saved = _ckpt(f)
    f.start()
    _alone_shows(c, args, f, topic, 40, vals)
    log_id, hw = saved.get(topic, (None, None))
    check(hw == 40, "node %d checkpointed %s at its clean stop" % (f.id, (log_id, hw)))
    f.wait_log("topic %s: high watermark 40 from the checkpoint" % topic, since_start=True)
    print("  clean stop: node %d alone shows its 40 records (checkpointed HW 40)" % f.id)
    # 2. kill -9 after the checkpoint interval (default 5 s).
    for nd in rest:
        nd.start()
    wait_isr_all(c, topic, 60)
    more = ["b%d" % i for i in range(25)]
    eps = ",".join(nd.endpoint for nd in c.nodes)  # restarted nodes have new ports
    rc, out, err = run(args, ["produce", "-t", topic, "--endpoint", eps, "--acks", "all"] + more)
    check(rc == 0 and len(out.split()) == 25, "second produce: %d %s" % (rc, err))
    h.converge(c, topic, c.nodes)
    deadline = time.time() + 15
    while _ckpt(f).get(topic, (None, 0))[1] != 65:
        check(time.time() < deadline, "node %d never checkpointed HW 65: %s" % (f.id, _ckpt(f)))
        time.sleep(0.2)
    f.kill()
    _isr_without(c, topic, f)
    for nd in rest:
        nd.kill()
    f.start()
    _alone_shows(c, args, f, topic, 65, vals + more)
    print("  kill -9: node %d alone shows its 65 records" % f.id)
    # 3. A checkpointed HW above the local log end (a power loss took the
    # tail) is capped at the log end.
    f.stop()
    path = os.path.join(f.dir, "data", "~hw_checkpoint")
    text = open(path).read()
    check(" 65\n" in text, "node %d: HW 65 not in %r" % (f.id, text))
    open(path, "w").write(text.replace(" 65\n", " 1000\n"))
    f.start()
    _alone_shows(c, args, f, topic, 65, vals + more)
    t = next(x for x in h.metadata(c, f).topics if x.name == topic)
    check(t.high_watermark == 65, "node %d: HW %d past its log end 65" % (f.id, t.high_watermark))
    f.wait_log("topic %s: high watermark 65 from the checkpoint (checkpointed 1000, log end 65)"
               % topic, since_start=True)
    print("  a checkpointed HW of 1000 above the log end: capped at 65")
    # 4. A checkpoint of another incarnation is not applied: the same file
    # with another log_id (as if the topic had been deleted and created
    # again) leaves the HW at 0.
    f.stop()
    other = "%016x" % (int(log_id, 16) ^ 1)
    check(log_id in text, "node %d: log id %s not in %r" % (f.id, log_id, text))
    open(path, "w").write(text.replace(log_id, other))
    f.start()
    _alone_shows(c, args, f, topic, 0, [])
    f.wait_log("topic %s: the high watermark checkpoint is of another incarnation" % topic,
               since_start=True)
    print("  a checkpoint with another log_id: not applied (visible end 0)")
    # 5. Deleted while f was down, created again (3 replicas) once it is
    # back: f's log is a stale incarnation, replaced; its old checkpoint
    # (HW 65) is not applied, and the new incarnation's replaces it.
    f.stop()
    open(path, "w").write(text)  # the old incarnation's checkpoint again, HW 65
    for nd in rest:
        nd.start()
    leader_node(c, topic)
    rc, out, err = run(args, ["delete", "-t", topic, "--endpoint", rest[0].endpoint])
    check(rc == 0, "delete: %d %s" % (rc, err))
    f.start()
    eps = ",".join(nd.endpoint for nd in c.nodes)
    rc, out, err = run(args, ["create", "-t", topic, "--replicas", "3", "--endpoint", eps])
    check(rc == 0, "create: %d %r %s" % (rc, out, err))
    f.wait_log("older incarnation", since_start=True)
    f.wait_log("topic %s: the high watermark checkpoint is of another incarnation" % topic,
               since_start=True)
    rc, out, err = run(args, ["produce", "-t", topic, "--endpoint", eps, "--acks", "all",
                              "n0", "n1", "n2"])
    check(rc == 0 and out.split() == ["0", "1", "2"], "produce after delete: %d %r %s" %
          (rc, out, err))
    h.converge(c, topic, c.nodes)
    f.stop()
    new_id, hw = _ckpt(f).get(topic, (None, None))
    check(new_id != log_id and hw == 3, "node %d checkpointed %s (the old log id %s)" %
          (f.id, (new_id, hw), log_id))
    _isr_without(c, topic, f)
    for nd in rest:
        nd.stop()
    f.start()
    _alone_shows(c, args, f, topic, 3, ["n0", "n1", "n2"])
    print("  deleted while node %d was down, created again: the old checkpoint is not "
          "applied, the new one is" % f.id)

TESTS = {"follower": t_follower, "cli": t_cli, "python": t_python, "isr": t_isr, "idem": t_idem,
         "pipe": t_pipe, "config": t_config,
         "pids": t_pids, "truncate": t_truncate,
         "create": t_create, "delete": t_delete, "tail": t_tail, "hwckpt": t_hwckpt}
EXTRA = {"config": ["--segment-bytes", "4096", "--max-record-bytes", "1024",
                    "--retention-check-ms", "100"],
         "truncate": ["--segment-bytes", "4096", "--max-record-bytes", "1024"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--seglog", required=True)
    ap.add_argument("--zkctl", required=True)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    c = h.Cluster(args.seglogd, args.zkctl, extra=EXTRA.get(args.test, ()))
    ok = False
    try:
        TESTS[args.test](c, args)
        ok = True
    except h.Fail as e:
        print("FAIL: %s (logs in %s)" % (e, c.root))
    finally:
        c.close(keep=args.keep or not ok)
    print("test_cluster_clients %s: %s" % (args.test, "ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
