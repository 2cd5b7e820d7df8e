#!/usr/bin/python3
"""Idempotent produce (docs/PROTOCOL.md, "Idempotent produce") against
seglogd as a child process: a resent batch gets its original offsets and
appends nothing, also after kill -9 and a restart; a gap in the sequence is
OUT_OF_ORDER_SEQUENCE; producer ids are unique across restarts; the Python
client produces idempotently by default.

Run by ctest with PYTHONPATH holding seglog_pb2, the client and srvproc.py.
"""
import argparse
import signal
import sys
import unittest

import seglog_client as sc
from srvproc import Server

SEGLOGD = None


class Base(unittest.TestCase):
    ARGS = ("--sync", "none")

    def setUp(self):
        self.srv = Server(SEGLOGD, *self.ARGS)
        self.c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000)

    def tearDown(self):
        self.c.close()
        rc = self.srv.close()
        self.assertIn(rc, (0, None), "seglogd did not stop cleanly:\n" + self.srv.last_log)

    def pid(self):
        req = sc.pb.Request()
        req.init_producer_id.SetInParent()
        return self.c._call(req, "init_producer_id").producer_id

    def send(self, topic, pid, seq, values):
        """One raw ProduceRequest: (offset, count)."""
        req = sc.pb.Request()
        req.produce.topic = topic
        req.produce.producer_id = pid
        req.produce.sequence = seq
        for v in values:
            req.produce.records.add().value = v
        r = self.c._call(req, "produce")
        return r.offset, r.count

    def values(self, topic):
        o = self.c.offsets(topic)
        return [r.value for r in self.c.consume(topic, o.lowest_offset, 10000)] \
            if o.next_offset > o.lowest_offset else []


class Idempotence(Base):
    def test_duplicate_gets_original_offsets(self):
        pid = self.pid()
        self.assertNotEqual(pid, 0)
        self.assertEqual(self.send("t", pid, 0, [b"a", b"b", b"c"]), (0, 3))
        self.assertEqual(self.send("t", pid, 1, [b"d"]), (3, 1))
        # Resent (a retry whose first reply was lost): original offsets, nothing appended.
        self.assertEqual(self.send("t", pid, 0, [b"a", b"b", b"c"]), (0, 3))
        self.assertEqual(self.send("t", pid, 1, [b"d"]), (3, 1))
        self.assertEqual(self.c.offsets("t").next_offset, 4)
        self.assertEqual(self.send("t", pid, 2, [b"e"]), (4, 1))
        # Another producer and another topic have their own sequences.
        other = self.pid()
        self.assertNotEqual(other, pid)
        self.assertEqual(self.send("t", other, 0, [b"x"]), (5, 1))
        self.assertEqual(self.send("u", pid, 0, [b"y"]), (0, 1))
        self.assertEqual(self.values("t"), [b"a", b"b", b"c", b"d", b"e", b"x"])

    def test_gap_is_an_error(self):
        pid = self.pid()
        self.send("g", pid, 0, [b"a"])
        self.send("g", pid, 1, [b"b"])
        with self.assertRaises(sc.ServerError) as cm:
            self.send("g", pid, 3, [b"lost"])
        self.assertEqual(cm.exception.code, "OUT_OF_ORDER_SEQUENCE")
        self.assertIn("sequence 3 is out of order: expected 2", str(cm.exception))
        self.assertEqual(self.values("g"), [b"a", b"b"])
        self.assertEqual(self.send("g", pid, 2, [b"c"]), (2, 1))  # the right one still goes

    def test_sequence_older_than_remembered(self):
        """A resend older than the last 5 (a pipelined window resent after a
        failover or restart) is found in the log: the original offsets."""
        pid, other = self.pid(), self.pid()
        for i in range(9):
            self.send("o", pid, i, [b"%d" % i, b"%d+" % i])
            self.send("o", other, i, [b"o%d" % i])
        self.assertEqual(self.send("o", pid, 6, [b"6", b"6+"]), (18, 2))  # among the last 5
        self.assertEqual(self.send("o", pid, 1, [b"1", b"1+"]), (3, 2))  # found in the log
        self.assertEqual(self.send("o", pid, 0, [b"0", b"0+"]), (0, 2))
        self.assertEqual(self.send("o", other, 0, [b"o0"]), (2, 1))      # another producer
        self.assertEqual(self.send("o", pid, 2, [b"2", b"2+"]), (6, 2))
        self.assertEqual(self.c.offsets("o").next_offset, 27)
        # The producer moves on; an old resend after that is still found.
        self.assertEqual(self.send("o", pid, 9, [b"9"]), (27, 1))
        self.assertEqual(self.send("o", pid, 3, [b"3", b"3+"]), (9, 2))
        # Further back than the server looks (131072 records): refused, nothing appended.
        batch = [b""] * 8192
        for _ in range(17):
            self.send("o", 0, 0, batch)
        end = self.c.offsets("o").next_offset
        self.assertEqual(self.send("o", pid, 10, [b"10"]), (end, 1))
        with self.assertRaises(sc.ServerError) as cm:
            self.send("o", pid, 4, [b"4", b"4+"])
        self.assertEqual(cm.exception.code, "OUT_OF_ORDER_SEQUENCE")
        self.assertIn("older than the last 5 batches", str(cm.exception))
        self.assertIn("not among the topic's last 131072 records", str(cm.exception))
        self.assertEqual(self.c.offsets("o").next_offset, end + 1)
        self.assertEqual(self.send("o", pid, 11, [b"11"]), (end + 1, 1))

    def test_made_up_producer_id(self):
        with self.assertRaises(sc.ServerError) as cm:
            self.send("m", 987654321, 0, [b"a"])
        self.assertEqual(cm.exception.code, "BAD_REQUEST")
        self.assertIn("never handed out", str(cm.exception))
        with self.assertRaises(sc.ServerError):
            self.c.offsets("m")  # nothing was created

    def test_plain_produce_is_not_deduplicated(self):
        self.assertEqual(self.send("p", 0, 0, [b"a"]), (0, 1))
        self.assertEqual(self.send("p", 0, 0, [b"a"]), (1, 1))

    def test_client_is_idempotent_by_default(self):
        self.assertEqual(self.c.produce("c", b"one"), 0)
        pid = self.c._pid
        self.assertNotEqual(pid, 0)
        self.assertEqual(self.c._seqs["c"], 1)
        # What a retry of that batch sends: the same producer id and sequence.
        self.assertEqual(self.send("c", pid, 0, [b"one"]), (0, 1))
        self.assertEqual(self.c.produce("c", b"two"), 1)
        self.assertEqual(self.values("c"), [b"one", b"two"])
        plain = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000, idempotent=False)
        try:
            plain.produce("c", b"three")
            self.assertEqual(plain._pid, 0)
        finally:
            plain.close()


class AcrossCrash(Base):
    """kill -9, restart on the same data: the state is rebuilt from the log."""

    def test_retry_after_kill9(self):
        pid = self.pid()
        for i in range(10):
            self.assertEqual(self.send("k", pid, i, [b"%d-a" % i, b"%d-b" % i]), (2 * i, 2))
        self.srv.stop(signal.SIGKILL)
        self.srv.relaunch()
        self.c.close()
        self.c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000)
        # The producer never saw the reply to its last batch: it retries it.
        self.assertEqual(self.send("k", pid, 9, [b"9-a", b"9-b"]), (18, 2))
        self.assertEqual(self.send("k", pid, 5, [b"5-a", b"5-b"]), (10, 2))
        self.assertEqual(self.c.offsets("k").next_offset, 20)
        with self.assertRaises(sc.ServerError) as cm:
            self.send("k", pid, 12, [b"gap"])
        self.assertEqual(cm.exception.code, "OUT_OF_ORDER_SEQUENCE")
        self.assertEqual(self.send("k", pid, 10, [b"10-a"]), (20, 1))
        vals = self.values("k")
        self.assertEqual(len(vals), 21)
        self.assertEqual(len(set(vals)), 21, "a duplicate in the log")
        # Ids handed out after the restart are new ones.
        self.assertNotEqual(self.pid(), pid)
        self.assertGreater(self.pid(), pid)

    def test_retry_after_clean_restart(self):
        pid = self.pid()
        self.assertEqual(self.send("r", pid, 0, [b"a"]), (0, 1))
        self.srv.restart()
        self.assertEqual(self.send("r", pid, 0, [b"a"]), (0, 1))
        self.assertEqual(self.c.offsets("r").next_offset, 1)


def main():
    global SEGLOGD
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    args, rest = ap.parse_known_args()
    SEGLOGD = args.seglogd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
