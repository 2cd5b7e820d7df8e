#!/usr/bin/python3
"""The Python client (clients/python/seglog_client.py) against seglogd as a
child process: every call, the server's error codes, Lazy Pirate timeout and
recovery, and tail() with the same no-loss guarantees as the C library.

Run by ctest with PYTHONPATH holding the build-generated seglog_pb2, the
client and srvproc.py. Every wait is bounded.
"""
import argparse
import os
import shutil
import signal
import sys
import threading
import time
import unittest

import seglog_client as sc
from srvproc import Server

SEGLOGD = None
WAIT = 30.0  # bound on any wait for records that must come


def value(i, size=8):
    v = b"r%d" % i
    return v + b"x" * (size - len(v)) if len(v) < size else v


def produce_range(c, topic, start, stop, size=8):
    i = start
    while i < stop:
        n = min(10, stop - i)
        first = c.produce_batch(topic, [value(k, size) for k in range(i, i + n)])
        assert first == i, (first, i)
        i += n


class Base(unittest.TestCase):
    ARGS = ("--sync", "none", "--heartbeat-ms", "100")

    def setUp(self):
        self.srv = Server(SEGLOGD, *self.ARGS)
        self.c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000)

    def tearDown(self):
        self.c.close()
        rc = self.srv.close()
        self.assertIn(rc, (0, None), "seglogd did not stop cleanly:\n" + self.srv.last_log)

    def read_until(self, tail, expect, until, size=8):
        deadline = time.monotonic() + WAIT
        while expect < until:
            self.assertLess(time.monotonic(), deadline, "tail stuck at %d" % expect)
            rec = tail.next(200)
            if rec is None:
                continue
            self.assertEqual(rec.offset, expect)
            self.assertEqual(rec.value, value(expect, size))
            expect += 1
            self.assertEqual(tail.position, expect)
        return expect

    def expect_quiet(self, tail, ms=500):
        rec = tail.next(ms)
        self.assertIsNone(rec, "unexpected record %r" % (rec,))


class Calls(Base):
    ARGS = ("--sync", "none", "--max-record-bytes", "4K", "--segment-bytes", "16K")

    def test_produce_consume_offsets(self):
        c = self.c
        self.assertEqual(c.produce("calls", b"hello"), 0)
        self.assertEqual(c.produce("calls", b""), 1)
        self.assertEqual(c.produce_batch("calls", [(b"k", b"a", 1234), b"bb", b"\0\xff"]), 2)
        [r] = c.consume("calls", 0)
        self.assertEqual((r.offset, r.value, r.key), (0, b"hello", None))  # as the CLI's null
        self.assertGreater(r.timestamp_ms, 0)
        [r] = c.consume("calls", 2)
        self.assertEqual((r.key, r.value, r.timestamp_ms), (b"k", b"a", 1234))
        b = c.consume_range("calls", 1, max_records=10)
        self.assertEqual([x.offset for x in b.records], [1, 2, 3, 4])
        self.assertEqual((b.next_offset, b.lowest_offset, b.end_offset), (5, 0, 5))
        self.assertEqual(b.records[3].value, b"\0\xff")
        self.assertEqual(len(c.consume("calls", 0, max_records=10, max_bytes=1)), 1)
        self.assertEqual(c.consume("calls", 5, max_records=10), [])
        o = c.offsets("calls")
        self.assertEqual((o.lowest_offset, o.next_offset), (0, 5))
        self.assertNotEqual(o.epoch, 0)
        # "" and None are the default topic
        off = c.produce(None, b"d")
        self.assertEqual(c.consume("default", off)[0].value, b"d")
        self.assertEqual(c.consume("", off)[0].value, b"d")

    def test_truncate(self):
        c = self.c
        produce_range(c, "trunc", 0, 100, 1000)
        self.assertEqual(c.truncate("trunc", 0), 0)
        lowest = c.truncate("trunc", 50)
        self.assertTrue(0 < lowest <= 50)
        self.assertEqual(c.offsets("trunc").lowest_offset, lowest)
        with self.assertRaises(sc.ServerError) as cm:
            c.consume("trunc", 0)
        self.assertEqual(cm.exception.code, "OFFSET_TRUNCATED")
        self.assertTrue(cm.exception.message)

    def test_server_errors(self):
        c = self.c
        c.produce("errs", b"v")
        cases = [
            (lambda: c.consume("errs", 5), "OFFSET_OUT_OF_RANGE"),
            (lambda: c.offsets("no-such-topic"), "UNKNOWN_TOPIC"),
            (lambda: c.produce("bad/topic", b"v"), "INVALID_TOPIC"),
            (lambda: c.produce("errs", b"x" * 5000), "RECORD_TOO_LARGE"),
            (lambda: c.produce_batch("errs", [b"x" * 3900] * 5), "BATCH_TOO_LARGE"),
            (lambda: c.produce_batch("errs", []), "BAD_REQUEST"),
        ]
        for call, code in cases:
            # RECORD_TOO_LARGE is raised by the client itself (LimitError)
            with self.assertRaises(sc.SeglogError) as cm:
                call()
            self.assertEqual(cm.exception.code, code)
            self.assertTrue(cm.exception.message)
            self.assertIn(code, str(cm.exception))
        self.assertEqual(c.consume("errs", 0)[0].value, b"v")


class OffsetForTime(Base):
    ARGS = ("--sync", "none", "--max-record-bytes", "4K", "--segment-bytes", "16K")

    def test_offset_for_time(self):
        c = self.c
        # 120 records of 500 bytes (several segments), stamped 1000 + i // 2
        for i in range(0, 120, 10):
            c.produce_batch("ot", [(None, b"v" * 500, 1000 + k // 2) for k in range(i, i + 10)])
        self.assertGreater(len([f for f in os.listdir(os.path.join(self.srv.dir, "data", "ot"))
                                if f.endswith(".timeindex")]), 2)

        def check():
            self.assertEqual(c.offset_for_time("ot", 0), 0)
            self.assertEqual(c.offset_for_time("ot", 1000), 0)
            self.assertEqual(c.offset_for_time("ot", 1001), 2)
            self.assertEqual(c.offset_for_time("ot", 1037), 74)
            self.assertEqual(c.offset_for_time("ot", 1059), 118)
            self.assertEqual(c.offset_for_time("ot", 1060), 120)  # none yet: the end
            for t in (1003, 1020, 1044):
                off = c.offset_for_time("ot", t)
                self.assertEqual(c.consume("ot", off)[0].timestamp_ms, t)
                self.assertEqual(c.consume("ot", off - 1)[0].timestamp_ms, t - 1)
        check()
        self.srv.stop(signal.SIGKILL)  # a crash: the indexes are rebuilt as needed
        self.srv.restart()
        check()
        # records stamped by the server (no timestamp): found by their time
        before = int(time.time() * 1000)
        off = c.produce("ot", b"now")
        self.assertEqual(c.offset_for_time("ot", before), off)
        with self.assertRaises(sc.ServerError) as cm:
            c.offset_for_time("no-such-topic", 0)
        self.assertEqual(cm.exception.code, "UNKNOWN_TOPIC")


class LongPoll(Base):
    def test_long_poll(self):
        c = self.c
        c.produce("lp", b"a")
        # nothing arrives: an empty batch after about max_wait_ms
        t0 = time.monotonic()
        b = c.consume_range("lp", 1, max_records=10, max_wait_ms=300)
        took = time.monotonic() - t0
        self.assertEqual((b.records, b.next_offset, b.end_offset), ([], 1, 1))
        self.assertTrue(0.29 <= took < 5, took)
        # a produce from another client answers a waiting long poll
        got = []
        th = threading.Thread(target=lambda: got.append(
            c.consume("lp", 1, max_records=10, max_wait_ms=20000)))
        th.start()
        with sc.Client(self.srv.bind, timeout_ms=10000) as p:
            deadline = time.monotonic() + WAIT
            while th.is_alive() and time.monotonic() < deadline:
                p.produce("lp", b"b")  # until the poll took one (bounded)
                th.join(0.05)
        th.join(WAIT)
        self.assertFalse(th.is_alive())
        self.assertEqual(got[0][0].value, b"b")
        with self.assertRaises(sc.ServerError) as cm:
            c._call(self._poll_req("lp", 60001), "consume")
        self.assertEqual(cm.exception.code, "BAD_REQUEST")
        self.assertIn("max_wait_ms", cm.exception.message)
        with self.assertRaises(ValueError):
            c.consume("lp", 1, max_wait_ms=60001)

    @staticmethod
    def _poll_req(topic, wait):
        req = sc.pb.Request()
        req.consume.topic = topic
        req.consume.offset = 0
        req.consume.max_wait_ms = wait
        return req


class Recovery(Base):
    ARGS = ("--sync", "always")

    def test_timeout_then_recovery(self):
        c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=200, retries=2)
        try:
            self.assertEqual(c.produce("lp", b"before"), 0)
            self.srv.stop(signal.SIGKILL)
            # Let libzmq see the dead connection first: a request sent into it
            # before the disconnect is noticed may have been sent, and is then
            # rightly resent (three timeouts, 0.6 s: CI saw 0.603 s once).
            time.sleep(0.2)
            t0 = time.monotonic()
            with self.assertRaises(sc.SeglogTimeout) as cm:
                c.produce("lp", b"lost")
            took = time.monotonic() - t0
            self.assertGreaterEqual(took, 0.18)
            self.assertLess(took, 0.6)  # one timeout: nothing was sent, nothing to resend
            self.assertIn("is seglogd running at %s?" % self.srv.bind, str(cm.exception))
            with self.assertRaises(sc.SeglogTimeout):
                c.offsets("lp")
            self.srv.restart()  # at once: no failed request may reach it
            for _ in range(50):
                try:
                    o = c.offsets("lp")
                    break
                except sc.SeglogTimeout:
                    continue
            self.assertEqual(o.next_offset, 1)
            off = c.produce("lp", b"after")
            self.assertGreaterEqual(off, 1)
            recs = c.consume("lp", 0, max_records=100)
            self.assertEqual(recs[0].value, b"before")
            self.assertEqual({r.value for r in recs[1:]}, {b"after"})  # a retry may repeat it
        finally:
            c.close()

    def test_not_running_default_policy(self):
        with sc.Client("tcp://127.0.0.1:1") as c:
            t0 = time.monotonic()
            with self.assertRaises(sc.SeglogTimeout) as cm:
                c.offsets("x")
            self.assertLess(time.monotonic() - t0, 3.0)
            self.assertIn("is seglogd running at tcp://127.0.0.1:1?", str(cm.exception))


class Limits(Base):
    ARGS = ("--sync", "none", "--max-record-bytes", "4K")

    def test_info(self):
        i = self.c.info()
        self.assertTrue(i.version)
        self.assertEqual(i.max_record_bytes, 4096)
        self.assertEqual(i.max_message_bytes, 4 * 4096 + 65536)
        self.assertEqual(i.sync, "none")
        self.assertIs(self.c.info(), i)  # cached

    def test_refused_before_sending(self):
        with self.assertRaises(sc.LimitError) as cm:
            self.c.produce("lim", b"x" * 5000)
        self.assertEqual(cm.exception.code, "RECORD_TOO_LARGE")
        self.assertIn("at most 4096", str(cm.exception))
        with self.assertRaises(sc.LimitError) as cm:
            self.c.produce("lim", b"x" * 4000, key=b"k" * 97)
        t0 = time.monotonic()
        with self.assertRaises(sc.LimitError) as cm:
            self.c.produce_batch("lim", [b"x" * 4000] * 30)  # the server would drop us
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(cm.exception.code, "MESSAGE_TOO_LARGE")
        self.assertEqual(self.c.produce("lim", b"x" * 4000, key=b"k" * 96), 0)

    def test_list_and_delete(self):
        self.c.produce("lst-b", b"1")
        self.c.produce("lst-a", b"1")
        self.c.produce("lst-a", b"2")
        topics = self.c.list_topics()
        names = [t.name for t in topics]
        self.assertEqual(names, sorted(names))
        a = [t for t in topics if t.name == "lst-a"][0]
        self.assertEqual((a.lowest_offset, a.next_offset), (0, 2))
        self.c.delete_topic("lst-a")
        self.assertNotIn("lst-a", [t.name for t in self.c.list_topics()])
        with self.assertRaises(sc.ServerError) as cm:
            self.c.delete_topic("lst-a")
        self.assertEqual(cm.exception.code, "UNKNOWN_TOPIC")
        with self.assertRaises(ValueError):
            self.c.delete_topic("")
        self.assertEqual(self.c.produce("lst-a", b"new"), 0)
        self.assertNotEqual(self.c.offsets("lst-a").epoch, a.epoch)


class TailBase(Base):
    def backlog_then_live(self, size=8, pause=0.0, **opts):
        produce_range(self.c, "t", 0, 1000, size)
        tail = self.c.open_tail("t", 0, **opts)
        errors = []

        def producer():
            try:
                with sc.Client(self.srv.bind, timeout_ms=10000) as c2:
                    produce_range(c2, "t", 1000, 2000, size)
            except Exception as e:  # reported by the main thread
                errors.append(e)

        try:
            th = threading.Thread(target=producer)
            if pause:  # live first, then not reading while the producer runs
                expect = self.read_until(tail, 0, 1000, size)
                self.expect_quiet(tail, 200)
                th.start()
                th.join(WAIT)
                time.sleep(pause)
            else:  # produce while the backlog is being read
                expect = self.read_until(tail, 0, 500, size)
                th.start()
            expect = self.read_until(tail, expect, 2000, size)
            th.join(WAIT)
            self.assertFalse(th.is_alive())
            self.assertEqual(errors, [])
            self.expect_quiet(tail)
            st = tail.stats()
            self.assertEqual(st.delivered, 2000)
            return st
        finally:
            tail.close()


class Tailing(TailBase):
    def test_backlog_then_live(self):
        st = self.backlog_then_live()
        self.assertGreaterEqual(st.fetches, 1)

    def test_tail_generator(self):
        produce_range(self.c, "g", 0, 300)
        got = [r.offset for r in self.c.tail("g", sc.EARLIEST, idle_timeout=0.5)]
        self.assertEqual(got, list(range(300)))

    def test_from_latest(self):
        produce_range(self.c, "l", 0, 100)
        with self.c.open_tail("l", sc.LATEST) as tail:
            self.assertEqual(tail.position, 100)
            self.expect_quiet(tail, 300)
            produce_range(self.c, "l", 100, 110)
            self.read_until(tail, 100, 110)
            self.expect_quiet(tail)
        with self.assertRaises(sc.ServerError) as cm:
            self.c.open_tail("l", 111)
        self.assertEqual(cm.exception.code, "OFFSET_OUT_OF_RANGE")

    def test_topic_matched_exactly(self):
        produce_range(self.c, "ab", 0, 1)
        with self.c.open_tail("ab", sc.LATEST) as tail:
            produce_range(self.c, "abc", 0, 5)
            produce_range(self.c, "ab", 1, 3)
            self.read_until(tail, 1, 3)
            self.expect_quiet(tail)

    def test_epoch_change(self):
        produce_range(self.c, "ep", 0, 10)
        with self.c.open_tail("ep", 0) as tail:
            self.read_until(tail, 0, 10)
            old = tail.epoch
            self.srv.stop()
            shutil.rmtree(os.path.join(self.srv.data, "ep"))
            self.srv.restart()
            produce_range(self.c, "ep", 0, 3)
            deadline = time.monotonic() + WAIT
            with self.assertRaises(sc.EpochChanged) as cm:
                while time.monotonic() < deadline:
                    tail.next(200)
            self.assertEqual(cm.exception.old_epoch, old)
            self.assertNotEqual(tail.epoch, old)
            self.assertEqual(tail.position, 0)
            self.read_until(tail, 0, 3)
            self.expect_quiet(tail)


class ForcedDrops(TailBase):
    ARGS = ("--sync", "none", "--heartbeat-ms", "100", "--pub-hwm", "1")

    def test_forced_pub_drops(self):
        st = self.backlog_then_live(size=16 << 10, pause=0.3, sub_hwm=1)
        self.assertGreater(st.gaps + st.hb_behind, 0, st)
        self.assertLess(st.live, 1000, st)
        self.assertGreater(st.fetches, 1, st)


class Truncation(Base):
    ARGS = ("--sync", "none", "--segment-bytes", "4K", "--max-record-bytes", "1K")

    def test_truncated_while_tailing(self):
        produce_range(self.c, "tr", 0, 500, 100)
        tail = self.c.open_tail("tr", 0, fetch_records=10)
        try:
            expect = self.read_until(tail, 0, 5, 100)
            lowest = self.c.truncate("tr", 400)
            self.assertGreater(lowest, 10)
            with self.assertRaises(sc.ServerError) as cm:
                for _ in range(20):
                    rec = tail.next(1000)
                    self.assertEqual(rec.offset, expect)
                    expect += 1
            self.assertEqual(cm.exception.code, "OFFSET_TRUNCATED")
            self.assertEqual(expect, 10)
            self.assertEqual(tail.position, 10)
        finally:
            tail.close()
        with self.assertRaises(sc.ServerError) as cm:
            self.c.open_tail("tr", 0)
        self.assertEqual(cm.exception.code, "OFFSET_TRUNCATED")
        with self.c.open_tail("tr", 0, start_at_lowest=True) as tail:
            self.assertEqual(tail.position, lowest)
            self.read_until(tail, lowest, 500, 100)


def main():
    global SEGLOGD
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    args, rest = ap.parse_known_args()
    SEGLOGD = args.seglogd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
