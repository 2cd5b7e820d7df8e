#!/usr/bin/python3
"""Consumer groups' committed offsets (docs/PROTOCOL.md, "Consumer groups")
against seglogd as a child process: CommitOffset / FetchOffset, durability
across kill -9, bad input, and the internal topic __consumer_offsets
(hidden from ListTopics, refused to produce, truncate and delete).

Run by ctest with PYTHONPATH holding seglog_pb2, the client and srvproc.py.
"""
import argparse
import signal
import sys
import time
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

    def code(self, fn, *args):
        with self.assertRaises(sc.ServerError) as cm:
            fn(*args)
        return cm.exception.code, str(cm.exception)


class Groups(Base):
    def test_commit_and_fetch(self):
        self.c.produce("t", b"x")
        self.c.produce("u", b"y")
        self.c.commit_offset("g1", "t", 5, "host-a")
        self.assertEqual(self.c.fetch_offset("g1", "t"), (5, "host-a"))
        self.c.commit_offset("g1", "t", 7)
        self.assertEqual(self.c.fetch_offset("g1", "t"), (7, ""))
        self.assertIsNone(self.c.fetch_offset("g1", "u"))  # known group, no commit for u
        self.c.commit_offset("g2", "u", 1, "m" * 256)
        self.assertEqual(self.c.fetch_offset("g2", "u"), (1, "m" * 256))
        self.assertEqual(self.c.fetch_offset("g1", "t"), (7, ""))
        self.c.produce("", b"d")
        self.c.commit_offset("g0", "", 1)  # "" is the topic "default"
        self.assertEqual(self.c.fetch_offset("g0", "default"), (1, ""))

    def test_bad_input(self):
        self.c.produce("t", b"x")
        code, msg = self.code(self.c.commit_offset, "", "t", 1)
        self.assertEqual(code, "BAD_REQUEST")
        self.assertIn("group name is empty", msg)
        code, msg = self.code(self.c.commit_offset, "a/b", "t", 1)
        self.assertEqual(code, "BAD_REQUEST")
        self.assertIn("invalid group name", msg)
        code, msg = self.code(self.c.commit_offset, "g", "t", 1, "m" * 257)
        self.assertEqual(code, "BAD_REQUEST")
        self.assertIn("metadata of 257 bytes: at most 256", msg)
        code, msg = self.code(self.c.commit_offset, "g", "nosuch", 1)
        self.assertEqual(code, "UNKNOWN_TOPIC")
        code, msg = self.code(self.c.commit_offset, "g", "bad/topic", 1)
        self.assertEqual(code, "INVALID_TOPIC")
        code, msg = self.code(self.c.fetch_offset, "never", "t")
        self.assertEqual(code, "UNKNOWN_GROUP")  # nothing committed on the server yet
        self.assertIn('unknown group "never"', msg)
        self.c.commit_offset("g", "t", 1)
        code, msg = self.code(self.c.fetch_offset, "never", "t")
        self.assertEqual(code, "UNKNOWN_GROUP")
        code, _ = self.code(self.c.fetch_offset, "", "t")
        self.assertEqual(code, "BAD_REQUEST")
        self.assertEqual(self.c.fetch_offset("g", "t"), (1, ""))  # failures changed nothing

    def test_internal_topic(self):
        self.c.produce("t", b"x")
        self.c.commit_offset("g", "t", 1)
        self.assertEqual([t.name for t in self.c.list_topics()], ["t"])
        for fn, args in ((self.c.produce, ("__consumer_offsets", b"forged")),
                         (self.c.truncate, ("__consumer_offsets", 1)),
                         (self.c.delete_topic, ("__consumer_offsets",))):
            code, msg = self.code(fn, *args)
            self.assertEqual(code, "INVALID_TOPIC")
            self.assertIn("internal", msg)
        code, _ = self.code(self.c.commit_offset, "g", "__consumer_offsets", 1)
        self.assertEqual(code, "INVALID_TOPIC")
        self.assertEqual(self.c.offsets("__consumer_offsets").next_offset, 1)  # readable
        self.assertEqual(self.c.fetch_offset("g", "t"), (1, ""))


class Durable(Base):
    def test_survive_kill9(self):
        self.c.produce("t", b"x")
        for i in range(50):
            self.c.commit_offset("g%d" % (i % 5), "t", i, "n%d" % i)
        self.srv.stop(signal.SIGKILL)
        self.srv.relaunch()
        self.c.close()
        self.c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000)
        for g in range(5):
            self.assertEqual(self.c.fetch_offset("g%d" % g, "t"), (45 + g, "n%d" % (45 + g)))
        self.c.commit_offset("g0", "t", 100)
        self.srv.restart()  # and a clean restart
        self.assertEqual(self.c.fetch_offset("g0", "t"), (100, ""))
        self.assertEqual(self.c.fetch_offset("g1", "t"), (46, "n46"))


class SyncAlways(Base):
    ARGS = ("--sync", "always")

    def test_commit_under_sync_always(self):
        self.c.produce("t", b"x")
        self.c.commit_offset("g", "t", 3)
        self.srv.stop(signal.SIGKILL)
        self.srv.relaunch()
        self.c.close()
        self.c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000)
        self.assertEqual(self.c.fetch_offset("g", "t"), (3, ""))


class Retention(Base):
    ARGS = ("--sync", "none", "--segment-bytes", "4K", "--max-record-bytes", "1K",
            "--retention-bytes", "8K", "--retention-check-ms", "50")

    def test_retention_keeps_the_commits(self):
        for i in range(300):
            self.c.produce("t", b"v" * 100)
            self.c.commit_offset("g", "t", i, "x" * 100)
        deadline = time.monotonic() + 30
        while self.c.offsets("t").lowest_offset == 0:  # a retention pass ran on t
            self.assertLess(time.monotonic(), deadline, "retention never ran")
            time.sleep(0.05)
        self.assertEqual(self.c.offsets("__consumer_offsets").lowest_offset, 0)
        self.assertEqual(self.c.fetch_offset("g", "t"), (299, "x" * 100))


def main():
    global SEGLOGD
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    args, rest = ap.parse_known_args()
    SEGLOGD = args.seglogd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
