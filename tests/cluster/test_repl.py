#!/usr/bin/python3
"""test_repl.py - issue 13's replication tests: a real ZooKeeper and three
real seglogd processes in cluster mode on loopback (replharness.py).

  failover  kill -9 the leader at random moments under a pipelining acks=all
            producer (--kills N, default 10); after each kill the producer
            resumes through the new leader; the killed node restarts on its
            data and rejoins. At the end every acked record is present once
            at its acked offset and all replicas are byte-identical (consume
            on each node, and the segment files after a clean stop). Prints
            the failover time (kill -> first ack from the new leader) per
            kill. Then the topic's znodes are deleted with every node down and
            the topic is created again: each node deletes its log of the old
            incarnation (log_id) and the new one is identical everywhere.
  zombie    SIGSTOP the leader past the session timeout (after it appended
            an unreplicated acks=leader tail); a new leader takes writes; on
            SIGCONT the old one acknowledges nothing more, truncates its tail
            when it rejoins, and ends identical.
  catchup   a follower restarted with an empty data directory catches up and
            rejoins the ISR, though the others' logs start above 0 (their first
            segment was removed while they were stopped): it starts its log at
            the leader's log start; the files end identical.
  isr       1 of 3 killed: acks=all works; 2 killed: NOT_ENOUGH_REPLICAS and
            nothing acknowledged; both restarted: they rejoin, acks=all works.
  zkloss    ZooKeeper killed and restarted under the producer: nothing acked
            is lost, the nodes recover by themselves.
  mixed     node 3 has smaller segments than the others: a leader's batch
            that does not fit them makes it fetch records (split into pieces)
            instead of the leader's stored frames; every replica still ends
            with every acknowledged record, and nodes 1 and 2 (same segment
            size) end with identical files.
"""
import argparse
import os
import random
import sys
import time

import replharness as h
from replharness import check, Conn, pb

TOPIC = "t"


def leader_of(c, p):
    nd = c.node_by_endpoint(p.last_ack_ep)
    check(nd is not None, "no live node answered the last ack")
    return nd


def joins(nd):
    return "topic %s: node %d joins the isr" % (TOPIC, nd.id)


def finish(c, p, nodes=None):
    h.drain(p)
    nodes = nodes or c.nodes
    end = h.converge(c, TOPIC, nodes)
    t = h.wait_full_isr(c, TOPIC, nodes, end)
    n = h.check_replicas(c, TOPIC, nodes, p.acked)
    print("  %d records on each of %d nodes (visible end %d), %d acknowledged, errors seen %s; "
          "metadata: leader %d epoch %d isr %s hw %d" % (n, len(nodes), end, len(p.acked), p.errors,
                                                          t.leader, t.leader_epoch, list(t.isr),
                                                          t.high_watermark))


def t_failover(c, args):
    rnd = random.Random(args.seed)
    p = h.Producer(c, TOPIC, window=16)
    h.run_until(p, lambda: len(p.acked) >= 200, 30, what="first acks")
    times = []
    for k in range(args.kills):
        until = time.time() + rnd.uniform(0.1, 1.5)
        while time.time() < until:
            p.step(10 ** 9)
        victim = leader_of(c, p)
        n_joins = h.count_log(c, joins(victim))
        t_kill = time.time()
        victim.kill()
        old_ep = victim.endpoint
        h.run_until(p, lambda: any(t > t_kill and ep != old_ep for t, ep in p.ack_log), 60,
                    what="ack after killing node %d" % victim.id)
        t_ack = min(t for t, ep in p.ack_log if t > t_kill and ep != old_ep)
        times.append(t_ack - t_kill)
        print("  kill %d: node %d, failover %.0f ms, %d acked so far" %
              (k + 1, victim.id, (t_ack - t_kill) * 1000, len(p.acked)), flush=True)
        victim.start()
        h.wait_count(c, joins(victim), n_joins + 1, 60, p)
    finish(c, p)
    s = sorted(times)
    print("  failover ms: min %.0f median %.0f max %.0f (zk session %d ms)" %
          (s[0] * 1000, s[len(s) // 2] * 1000, s[-1] * 1000, c.session_ms))
    same_files(c)
    stale_incarnation(c, len(p.acked))


def same_files(c):
    for nd in c.nodes:
        nd.stop()
    nf, nb = h.compare_files(TOPIC, c.nodes)
    print("  after a clean stop: the %d files (%d bytes) of topic %s are identical on all %d "
          "nodes" % (nf, nb, TOPIC, len(c.nodes)), flush=True)


def stale_incarnation(c, n_old):
    """The topic deleted and created again in ZooKeeper while the nodes were
    down: their logs are of the old incarnation."""
    c.zk.deleteall("/seglog/topics/" + TOPIC)
    for nd in c.nodes:
        nd.start()
    p = h.Producer(c, TOPIC, window=8)
    h.run_until(p, lambda: len(p.acked) >= 50, 30, what="acks from the new incarnation")
    h.drain(p)
    end = h.converge(c, TOPIC, c.nodes)
    h.wait_full_isr(c, TOPIC, c.nodes, end)
    for nd in c.nodes:
        check("stale incarnation" in nd.log_text().split("cluster mode: node %d" % nd.id)[-1],
              "node %d did not replace its log of the old incarnation" % nd.id)
        o = h.offsets(c, nd, TOPIC)
        check(o is not None and o.lowest_offset == 0 and o.next_offset == end,
              "node %d: the new incarnation spans %s" % (nd.id, o))
    check(sorted(p.acked.values()) == list(range(len(p.acked))),
          "the new incarnation did not start at offset 0: %s" % sorted(p.acked.values())[:5])
    check(end < n_old, "the old records are still there (end %d)" % end)
    n = h.check_replicas(c, TOPIC, c.nodes, p.acked)
    for nd in c.nodes:
        nd.stop()
    nf, nb = h.compare_files(TOPIC, c.nodes)
    print("  topic re-created in zookeeper while the nodes were down: each replaced its old "
          "log; %d records, %d identical files" % (n, nf))


def t_zombie(c, args):
    p = h.Producer(c, TOPIC, window=8)
    h.run_until(p, lambda: len(p.acked) >= 100, 30, what="first acks")
    h.drain(p)
    old = leader_of(c, p)
    followers = [nd for nd in c.nodes if nd is not old]
    for nd in followers:
        nd.pause()
    time.sleep(1.0)  # their long-polled fetches are answered (empty) meanwhile
    z = Conn(c.ctx, old.endpoint)
    tail = [b"tail-%d" % i for i in range(5)]
    for v in tail:  # stored on the old leader alone
        r = z.call(h.produce_req(TOPIC, [v], pb.ACKS_LEADER), 5000)
        check(r is not None and r.WhichOneof("body") == "produce", "acks=leader tail: %s" % r)
    old.pause()
    t_stop = time.time()
    for nd in followers:
        nd.resume()
    queued = [z.send(h.produce_req(TOPIC, [b"zombie-%d" % i], a))
              for i, a in enumerate([pb.ACKS_ALL, pb.ACKS_LEADER, pb.ACKS_ALL])]
    # A new leader takes writes.
    n0 = len(p.acked)
    h.run_until(p, lambda: len(p.acked) >= n0 + 100, 60, what="acks from the new leader")
    new = leader_of(c, p)
    check(new is not old, "the paused node still acked")
    print("  node %d paused; node %d leads, first ack %.0f ms after the pause" %
          (old.id, new.id, (min(t for t, ep in p.ack_log if t > t_stop) - t_stop) * 1000))
    n_trunc = old.log_text().count("truncated")
    old.resume()
    answered = {}
    deadline = time.time() + 15
    while len(answered) < len(queued) and time.time() < deadline:
        r = z.recv(200)
        if r is not None and r.id in queued:
            answered[r.id] = r
    check(len(answered) == len(queued), "the zombie did not answer its queued produces")
    for r in answered.values():
        check(r.WhichOneof("body") == "error" and r.error.code == pb.NOT_LEADER,
              "the zombie answered %s" % r)
    print("  on SIGCONT the old leader refused its queued produces: %s" %
          "; ".join(r.error.message for r in answered.values())[:300])
    z.close()
    # It rejoins as a follower: its tail goes.
    h.wait_count(c, joins(old), 1, 60, p)
    check(old.log_text().count("truncated") > n_trunc, "the old leader did not truncate its tail")
    finish(c, p)
    for nd in c.nodes:
        values = {rec.value for _, _, rec in h.consume_all(c, nd, TOPIC)}
        check(not values.intersection(tail), "node %d still has the unreplicated tail" % nd.id)
        check(not any(v.startswith(b"zombie-") for v in values),
              "node %d stored a produce sent to the zombie" % nd.id)


def t_catchup(c, args):
    p = h.Producer(c, TOPIC, window=32)
    h.run_until(p, lambda: len(p.acked) >= 3000, 60, what="first acks")
    old = leader_of(c, p)
    f = next(nd for nd in c.nodes if nd is not old)
    f.kill()
    n0 = len(p.acked)
    h.run_until(p, lambda: len(p.acked) >= n0 + 500, 60, what="acks with a follower down")
    # The others' logs start above 0: stopped cleanly, their first segment
    # removed offline (what a front truncation does), restarted. The empty
    # node must start its log at the leader's log start.
    h.drain(p)
    others = [nd for nd in c.nodes if nd is not f]
    for nd in others:
        nd.stop()
    firsts = set()
    for nd in others:
        stores = sorted(n for n in os.listdir(nd.topic_dir(TOPIC)) if n.endswith(".store"))
        check(len(stores) >= 2, "node %d: only %s" % (nd.id, stores))
        firsts.add(stores[0])
        for name in os.listdir(nd.topic_dir(TOPIC)):  # .store, .index, .timeindex
            if name.startswith(stores[0][:-6] + "."):
                os.remove(os.path.join(nd.topic_dir(TOPIC), name))
    check(len(firsts) == 1, "the replicas' first segments differ: %s" % firsts)
    low = int(sorted(n for n in os.listdir(others[0].topic_dir(TOPIC))
                     if n.endswith(".store"))[0][:-6])
    p.acked = {v: o for v, o in p.acked.items() if o >= low}  # the records below are gone
    for nd in others:
        nd.start()
    f.start(wipe=True)
    h.wait_count(c, joins(f), 1, 60, p)
    finish(c, p)
    lows = [h.offsets(c, nd, TOPIC).lowest_offset for nd in c.nodes]
    print("  node %d restarted empty and rejoined the isr; lowest offsets %s" % (f.id, lows))
    check(lows == [low] * len(lows), "lowest offsets %s, not %d" % (lows, low))
    for nd in c.nodes:
        nd.stop()
    nf, nb = h.compare_files(TOPIC, c.nodes)
    print("  after a clean stop: %d identical files (%d bytes) on all nodes" % (nf, nb))


def t_isr(c, args):
    p = h.Producer(c, TOPIC, window=8)
    h.run_until(p, lambda: len(p.acked) >= 50, 30, what="first acks")
    h.drain(p)
    lead = leader_of(c, p)
    f1, f2 = [nd for nd in c.nodes if nd is not lead]
    f1.kill()
    n0 = len(p.acked)
    t0 = time.time()
    h.run_until(p, lambda: len(p.acked) >= n0 + 50, 30, n0 + 10 ** 6, "acks with 1 of 3 down")
    print("  node %d down: acks=all goes on (50 acks in %.1f s)" % (f1.id, time.time() - t0))
    h.drain(p)
    f2.kill()
    conn = Conn(c.ctx, lead.endpoint)
    t0 = time.time()
    at_once = None
    while at_once is None:
        check(time.time() - t0 < 30, "never refused at once with 2 of 3 down")
        t1 = time.time()
        r = conn.call(h.produce_req(TOPIC, [b"refused"], pb.ACKS_ALL), 20000)
        dt = time.time() - t1
        check(r is not None, "a produce with 2 of 3 down hung")
        check(r.WhichOneof("body") == "error" and r.error.code == pb.NOT_ENOUGH_REPLICAS,
              "with 2 of 3 down: %s" % r)
        if dt < 0.5 and "nothing was appended" in r.error.message:
            at_once = dt
    # A new topic needs 3 live nodes (--replication-factor 3): refused, not hung.
    t1 = time.time()
    r = conn.call(h.produce_req("t2", [b"x"], pb.ACKS_ALL), 20000)
    check(r is not None and r.WhichOneof("body") == "error" and
          r.error.code == pb.NOT_ENOUGH_REPLICAS and "could not be created" in r.error.message,
          "new topic with 1 live node: %s" % r)
    conn.close()
    print("  node %d down too: NOT_ENOUGH_REPLICAS at once (%.1f ms) after %.1f s; a new "
          "topic refused in %.0f ms" % (f2.id, at_once * 1000, t1 - t0, (time.time() - t1) * 1000))
    f1.start()
    f2.start()
    h.wait_count(c, joins(f1), 1, 60)
    h.wait_count(c, joins(f2), 1, 60)
    n0 = len(p.acked)
    h.run_until(p, lambda: len(p.acked) >= n0 + 50, 30, what="acks after the rejoin")
    finish(c, p)


def t_zkloss(c, args):
    p = h.Producer(c, TOPIC, window=8)
    h.run_until(p, lambda: len(p.acked) >= 100, 30, what="first acks")
    c.zk.stop()
    n0 = len(p.acked)
    until = time.time() + 4
    while time.time() < until:
        p.step(10 ** 9)
    print("  zookeeper down 4 s: %d acks meanwhile, errors %s" % (len(p.acked) - n0, p.errors))
    c.zk.restart()
    n1 = len(p.acked)
    t0 = time.time()
    h.run_until(p, lambda: len(p.acked) >= n1 + 100, 60, what="acks after zookeeper came back")
    print("  back %.1f s after the restart" % (time.time() - t0))
    for nd in c.nodes:
        check("waiting for zookeeper" in nd.log_text() or "zookeeper connection lost" in nd.log_text(),
              "node %d did not say what it waits for" % nd.id)
    finish(c, p)


def t_mixed(c, args):
    p = h.Producer(c, TOPIC, window=16)
    h.run_until(p, lambda: len(p.acked) >= 200, 60, what="first acks")
    small = c.nodes[2]
    if leader_of(c, p) is small:  # node 3 cannot hold the big batch as leader
        small.kill()
        n0 = len(p.acked)
        h.run_until(p, lambda: len(p.acked) >= n0 + 100, 60, what="acks after node 3 left")
        small.start()
        h.wait_count(c, joins(small), 1, 60, p)
    h.drain(p)
    lead = leader_of(c, p)
    check(lead is not small, "node 3 still leads")
    big = [b"big-%02d-" % i + b"x" * 1000 for i in range(30)]  # ~30 KB: over node 3's 8 KiB
    z = Conn(c.ctx, lead.endpoint)
    r = z.call(h.produce_req(TOPIC, big, pb.ACKS_LEADER), 10000)
    z.close()
    check(r is not None and r.WhichOneof("body") == "produce",
          "the big batch was not acknowledged: %s" % r)
    for i, v in enumerate(big):
        p.acked[v] = r.produce.offset + i
    n0 = len(p.acked)
    h.run_until(p, lambda: len(p.acked) >= n0 + 300, 60, what="acks after the big batch")
    small.wait_log("fetching records instead of the leader's frames", 30)
    small.wait_log("appended in pieces", 30)
    finish(c, p)
    for nd in c.nodes:
        nd.stop()
    nf, nb = h.compare_files(TOPIC, c.nodes[:2])
    print("  node 3 (8 KiB segments) fetched records after the big batch; nodes 1 and 2: "
          "%d identical files (%d bytes)" % (nf, nb))


TESTS = {"mixed": t_mixed, "failover": t_failover, "zombie": t_zombie, "catchup": t_catchup, "isr": t_isr,
         "zkloss": t_zkloss}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--zkctl", required=True)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--session-ms", type=int, default=2000)
    ap.add_argument("--keep", action="store_true", help="keep the data and logs")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    print("test_repl %s seed=%d" % (args.test, args.seed), flush=True)
    extra = ["--replication-factor", "3"] if args.test == "isr" else []
    if args.test == "failover":  # many segments: their roll points must agree too
        extra = ["--segment-bytes", "262144", "--max-record-bytes", "65536"]
    if args.test == "catchup":
        extra = ["--segment-bytes", "32768", "--max-record-bytes", "16384"]
    node_extra = {}
    if args.test == "mixed":
        extra = ["--max-record-bytes", "4096"]
        node_extra = {1: ["--segment-bytes", "65536"], 2: ["--segment-bytes", "65536"],
                      3: ["--segment-bytes", "8192"]}
    c = h.Cluster(args.seglogd, args.zkctl, session_ms=args.session_ms, lag_ms=2000, extra=extra,
                  node_extra=node_extra)
    ok = False
    try:
        TESTS[args.test](c, args)
        ok = True
    except h.Fail as e:
        print("FAIL: %s (logs in %s)" % (e, c.root), flush=True)
    finally:
        c.close(keep=args.keep or not ok)
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
