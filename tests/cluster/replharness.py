"""replharness.py - real ZooKeeper (zkctl) and real seglogd processes on
loopback for the replication tests, plus a small test-side client that
follows NOT_LEADER itself (the C/Python clients' bootstrap lists are a
separate piece of work).

Every wait is bounded; every process is killed at exit (atexit) and the
ZooKeeper helper dies with its stdin."""
import atexit
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import zmq

import seglog_pb2 as pb

NOT_LEADER = pb.NOT_LEADER
NOT_ENOUGH_REPLICAS = pb.NOT_ENOUGH_REPLICAS

_procs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
            except OSError:
                pass
            p.wait()


atexit.register(_cleanup)


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class ZooKeeper:
    def __init__(self, zkctl):
        self.p = subprocess.Popen([zkctl, "100"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        _procs.append(self.p)
        line = self.p.stdout.readline().split()
        check(len(line) == 2 and line[0] == "hosts", "zkctl did not start ZooKeeper")
        self.hosts = line[1]

    def _cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        check(self.p.stdout.readline().strip() == "ok", "zkctl " + c + " failed")

    def stop(self):
        self._cmd("stop")

    def restart(self):
        self._cmd("restart")

    def deleteall(self, path):
        self._cmd("deleteall " + path)

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=30)


class Node:
    """One seglogd in cluster mode; keeps its node id and data directory
    across restarts (its ports change: tcp://127.0.0.1:*)."""

    def __init__(self, cluster, node_id):
        self.c = cluster
        self.id = node_id
        self.dir = os.path.join(cluster.root, "n%d" % node_id)
        self.p = None
        self.endpoint = None
        self.starts = 0

    def start(self, wipe=False):
        if wipe and os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir, exist_ok=True)
        self.starts += 1
        epf = os.path.join(self.c.root, "ep%d-%d" % (self.id, self.starts))
        log = open(os.path.join(self.c.root, "n%d.log" % self.id), "a")
        args = [self.c.seglogd, "--data-dir", os.path.join(self.dir, "data"),
                "--bind", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*",
                "--endpoints-file", epf, "--zookeeper", self.c.zk.hosts,
                "--node-id", str(self.id), "--zk-session-ms", str(self.c.session_ms),
                "--replica-lag-ms", str(self.c.lag_ms), "--workers", "1",
                "--sync", self.c.sync] + self.c.extra + self.c.node_extra.get(self.id, [])
        self.p = subprocess.Popen(args, stdout=log, stderr=log)
        _procs.append(self.p)
        deadline = time.time() + 20
        while not os.path.exists(epf):
            check(self.p.poll() is None, "node %d exited at start (see n%d.log)" % (self.id, self.id))
            check(time.time() < deadline, "node %d did not write its endpoints" % self.id)
            time.sleep(0.02)
        for line in open(epf):
            k, _, v = line.strip().partition("=")
            if k == "bind":
                self.endpoint = v
        self.wait_log("registered node=%d" % self.id, since_start=True)

    def topic_dir(self, topic):
        return os.path.join(self.dir, "data", topic)

    def log_text(self):
        with open(os.path.join(self.c.root, "n%d.log" % self.id), errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=20, since_start=False):
        deadline = time.time() + timeout
        while True:
            t = self.log_text()
            if since_start:
                t = t.split("cluster mode: node %d" % self.id)[-1]
            if text in t:
                return
            check(time.time() < deadline, "node %d never logged %r" % (self.id, text))
            time.sleep(0.05)

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        check(self.p.wait(timeout=60) == 0, "node %d: unclean exit" % self.id)

    def pause(self):
        """SIGSTOP, and wait until it took effect: kill() returns before
        the process stops, and it may answer requests meanwhile."""
        self.p.send_signal(signal.SIGSTOP)
        deadline = time.time() + 10
        while True:
            with open("/proc/%d/stat" % self.p.pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state in ("T", "t"):
                return
            check(time.time() < deadline, "node %d did not stop" % self.id)
            time.sleep(0.001)

    def resume(self):
        self.p.send_signal(signal.SIGCONT)


class Cluster:
    def __init__(self, seglogd, zkctl, n=3, session_ms=2000, lag_ms=2000, sync="interval:100",
                 extra=(), node_extra=None, root=None):
        self.root = root or tempfile.mkdtemp(prefix="seglog-repl-")
        self.node_extra = node_extra or {}  # node id -> more arguments
        self.seglogd = seglogd
        self.session_ms = session_ms
        self.lag_ms = lag_ms
        self.sync = sync
        self.extra = list(extra)
        self.zk = ZooKeeper(zkctl)
        self.nodes = [Node(self, i + 1) for i in range(n)]
        self.ctx = zmq.Context.instance()
        for nd in self.nodes:
            nd.start()

    def close(self, keep=False):
        for nd in self.nodes:
            if nd.alive():
                nd.resume()
                nd.kill()
        self.zk.close()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def node_by_endpoint(self, ep):
        for nd in self.nodes:
            if nd.alive() and nd.endpoint == ep:
                return nd
        return None


class Conn:
    """A DEALER to one node, with request ids."""
    next_id = 1

    def __init__(self, ctx, endpoint, curve=None):
        self.endpoint = endpoint
        self.s = ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        if curve:  # (server public, our public, our secret), Z85 bytes
            self.s.curve_serverkey, self.s.curve_publickey, self.s.curve_secretkey = curve
        self.s.connect(endpoint)

    def close(self):
        self.s.close(0)

    def send(self, req):
        req.id = Conn.next_id
        Conn.next_id += 1
        self.s.send(req.SerializeToString())
        return req.id

    def recv(self, timeout_ms):
        if not self.s.poll(timeout_ms):
            return None
        r = pb.Response()
        r.ParseFromString(self.s.recv())
        return r

    def call(self, req, timeout_ms=5000):
        rid = self.send(req)
        deadline = time.time() + timeout_ms / 1000.0
        while True:
            left = int((deadline - time.time()) * 1000)
            if left <= 0:
                return None
            r = self.recv(left)
            if r is None:
                return None
            if r.id == rid:
                return r


def produce_req(topic, values, acks=0):
    req = pb.Request()
    req.produce.topic = topic
    for v in values:
        req.produce.records.add(value=v)
    req.produce.acks = acks
    return req


def offsets(cluster, node, topic, timeout_ms=3000):
    c = Conn(cluster.ctx, node.endpoint)
    try:
        req = pb.Request()
        req.offsets.topic = topic
        r = c.call(req, timeout_ms)
        if r is None or r.WhichOneof("body") != "offsets":
            return None
        return r.offsets
    finally:
        c.close()


def consume_all(cluster, node, topic, timeout_s=30):
    """Every visible record of topic on node, as (offset, serialized Record)."""
    c = Conn(cluster.ctx, node.endpoint)
    out = []
    try:
        o = offsets(cluster, node, topic)
        check(o is not None, "offsets from node %d failed" % node.id)
        off = o.lowest_offset
        deadline = time.time() + timeout_s
        while off < o.next_offset:
            check(time.time() < deadline, "consume from node %d too slow" % node.id)
            req = pb.Request()
            req.consume.topic = topic
            req.consume.offset = off
            req.consume.max_records = 10000
            r = c.call(req, 5000)
            check(r is not None and r.WhichOneof("body") == "consume",
                  "consume from node %d failed: %s" % (node.id, r))
            if not r.consume.records:
                break
            for rec in r.consume.records:
                out.append((rec.offset, rec.SerializeToString(deterministic=True), rec))
            off = r.consume.next_offset
        return out
    finally:
        c.close()


class Producer:
    """A pipelining producer (window W, one record per request) that follows
    NOT_LEADER, retries what failed with a new value (seq, attempt), and
    writes down every acknowledgement: acked[value] = offset."""

    def __init__(self, cluster, topic, window=16, acks=0, timeout_ms=1500):
        self.c = cluster
        self.topic = topic
        self.window = window
        self.acks = acks
        self.timeout_ms = timeout_ms
        self.conn = None
        self.inflight = {}  # request id -> (seq, attempt, value, sent_at)
        self.todo = []      # seqs to (re)send
        self.attempt = {}
        self.seq = 0
        self.acked = {}     # value -> offset
        self.ack_times = []
        self.errors = {}
        self.hint = None
        self.rr = 0
        self.last_ack_ep = None
        self.ack_log = []   # (time, endpoint) of every ack

    def _connect(self):
        if self.conn:
            self.conn.close()
        ep = None
        if self.hint and self.c.node_by_endpoint(self.hint):
            ep = self.hint
        else:
            alive = [nd for nd in self.c.nodes if nd.alive()]
            if alive:
                ep = alive[self.rr % len(alive)].endpoint
                self.rr += 1
        self.hint = None
        self.conn = Conn(self.c.ctx, ep) if ep else None

    def _fail_all(self):
        for rid, (seq, _, _, _) in self.inflight.items():
            self.todo.append(seq)
        self.inflight.clear()

    def _send_more(self, limit):
        while len(self.inflight) < self.window:
            if self.todo:
                seq = self.todo.pop(0)
            elif self.seq < limit:
                seq = self.seq
                self.seq += 1
            else:
                return
            a = self.attempt.get(seq, 0)
            self.attempt[seq] = a + 1
            value = b"v%d-a%d" % (seq, a)
            rid = self.conn.send(produce_req(self.topic, [value], self.acks))
            self.inflight[rid] = (seq, a, value, time.time())

    def step(self, limit, budget_ms=50):
        """Sends and receives for about budget_ms. Returns acks received."""
        if self.conn is None:
            self._connect()
            if self.conn is None:
                time.sleep(budget_ms / 1000.0)
                return 0
        self._send_more(limit)
        got = 0
        end = time.time() + budget_ms / 1000.0
        while self.inflight and time.time() < end:
            r = self.conn.recv(10)
            if r is None:
                oldest = min(v[3] for v in self.inflight.values())
                if time.time() - oldest > self.timeout_ms / 1000.0:
                    self._fail_all()
                    self._connect()
                    return got
                continue
            if r.id not in self.inflight:
                continue
            seq, a, value, _ = self.inflight.pop(r.id)
            kind = r.WhichOneof("body")
            if kind == "produce":
                check(value not in self.acked, "acked twice: %r" % value)
                self.acked[value] = r.produce.offset
                self.ack_times.append(time.time())
                self.last_ack_ep = self.conn.endpoint
                self.ack_log.append((time.time(), self.conn.endpoint))
                got += 1
            else:
                code = r.error.code
                self.errors[code] = self.errors.get(code, 0) + 1
                self.todo.append(seq)
                # Everything in flight behind it went to the same node: drop
                # the connection and go where the error points.
                self._fail_all()
                if code == NOT_LEADER and r.error.leader_endpoint:
                    self.hint = r.error.leader_endpoint
                else:
                    time.sleep(0.05)
                self._connect()
                return got
            self._send_more(limit)
        return got


def metadata(cluster, node, timeout_ms=3000):
    c = Conn(cluster.ctx, node.endpoint)
    try:
        req = pb.Request()
        req.metadata.SetInParent()
        r = c.call(req, timeout_ms)
        check(r is not None and r.WhichOneof("body") == "metadata",
              "metadata from node %d: %s" % (node.id, r))
        return r.metadata
    finally:
        c.close()


def wait_full_isr(cluster, topic, nodes, end, timeout_s=30):
    """Every node's Metadata: the topic's ISR holds all nodes, one leader,
    and the leader's HW is end."""
    deadline = time.time() + timeout_s
    while True:
        views = [metadata(cluster, nd) for nd in nodes]
        tops = [next((t for t in m.topics if t.name == topic), None) for m in views]
        ok = all(t is not None and sorted(t.isr) == sorted(nd.id for nd in nodes) for t in tops)
        leaders = {t.leader for t in tops if t is not None}
        lead = [t for nd, t in zip(nodes, tops) if t is not None and t.leader == nd.id]
        if ok and len(leaders) == 1 and lead and lead[0].high_watermark == end:
            alive = {n.id for n in views[0].nodes if n.alive}
            check(alive == {nd.id for nd in nodes}, "metadata: live nodes %s" % alive)
            return lead[0]
        check(time.time() < deadline, "metadata never showed a full isr: %s" % tops)
        time.sleep(0.2)


def converge(cluster, topic, nodes, timeout_s=60):
    """Waits until every node shows the same visible end (> 0), which must
    not move for a moment: replication has caught up."""
    deadline = time.time() + timeout_s
    last = None
    while True:
        ends = []
        for nd in nodes:
            o = offsets(cluster, nd, topic, 2000)
            ends.append(None if o is None else o.next_offset)
        if None not in ends and len(set(ends)) == 1 and ends == last:
            return ends[0]
        last = ends
        check(time.time() < deadline, "replicas did not converge: ends %s" % ends)
        time.sleep(0.3)


def check_replicas(cluster, topic, nodes, acked):
    """Every acked value once, at its acked offset, on every node; every
    node's records byte-identical."""
    views = [consume_all(cluster, nd, topic) for nd in nodes]
    base = [(o, b) for o, b, _ in views[0]]
    for nd, v in zip(nodes[1:], views[1:]):
        mine = [(o, b) for o, b, _ in v]
        if mine != base:
            diff = next((i for i, (x, y) in enumerate(zip(base, mine)) if x != y),
                        min(len(base), len(mine)))
            raise Fail("node %d differs from node %d at record %d (%d vs %d records)" %
                       (nd.id, nodes[0].id, diff, len(mine), len(base)))
    by_offset = {o: rec for o, _, rec in views[0]}
    seen = {}
    for o, _, rec in views[0]:
        seen[rec.value] = seen.get(rec.value, 0) + 1
    for value, off in acked.items():
        check(off in by_offset, "acked %r at %d is missing" % (value, off))
        check(by_offset[off].value == value,
              "offset %d holds %r, but %r was acked there" % (off, by_offset[off].value, value))
        check(seen[value] == 1, "acked %r is stored %d times" % (value, seen[value]))
    return len(views[0])


def compare_files(topic, nodes):
    """After a clean stop: every replica's topic directory holds the same
    files (names and bytes). Nothing is excluded: after a clean close a log
    directory holds its segments (.store, .index, .timeindex) and the empty
    .clean_shutdown marker; .leader_epochs is not written in cluster mode and
    .truncate_after exists only during a cut (docs/FORMAT.md). Returns
    (files, bytes) of one replica."""
    def listing(nd):
        d = nd.topic_dir(topic)
        check(os.path.isdir(d), "node %d has no directory for topic %s" % (nd.id, topic))
        return sorted(os.listdir(d))
    names = listing(nodes[0])
    check(any(n.endswith(".store") for n in names), "node %d: no segment" % nodes[0].id)
    total = 0
    for nd in nodes[1:]:
        mine = listing(nd)
        check(mine == names, "node %d's files %s differ from node %d's %s" %
              (nd.id, mine, nodes[0].id, names))
    for name in names:
        with open(os.path.join(nodes[0].topic_dir(topic), name), "rb") as f:
            ref = f.read()
        total += len(ref)
        for nd in nodes[1:]:
            with open(os.path.join(nd.topic_dir(topic), name), "rb") as f:
                b = f.read()
            if b != ref:
                at = next((i for i, (x, y) in enumerate(zip(ref, b)) if x != y),
                          min(len(ref), len(b)))
                raise Fail("%s of topic %s: node %d differs from node %d at byte %d (%d vs %d "
                           "bytes)" % (name, topic, nd.id, nodes[0].id, at, len(b), len(ref)))
    return len(names), total


def run_until(p, cond, timeout_s, limit=10 ** 9, what="condition"):
    deadline = time.time() + timeout_s
    while not cond():
        check(time.time() < deadline, "producer: no %s within %ds (acked %d, errors %s)" %
              (what, timeout_s, len(p.acked), p.errors))
        p.step(limit)


def drain(p, timeout_s=60):
    """Stops sending new records; waits until everything sent was acked."""
    limit = p.seq
    run_until(p, lambda: not p.inflight and not p.todo, timeout_s, limit, "drain")


def count_log(cluster, text):
    return sum(nd.log_text().count(text) for nd in cluster.nodes)


def wait_count(cluster, text, n, timeout_s, p=None):
    deadline = time.time() + timeout_s
    while count_log(cluster, text) < n:
        check(time.time() < deadline, "nobody logged %r (%d times) within %ds" % (text, n, timeout_s))
        if p is not None:
            p.step(10 ** 9)
        else:
            time.sleep(0.05)
