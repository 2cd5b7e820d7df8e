#!/usr/bin/python3
"""GET /metrics (docs/HTTP.md) against seglogd as a child process: after
traffic of every kind the text passes `promtool check metrics` (Debian's
prometheus package; its absence is a failure, not a skip), and the series
count what happened. Every wait is bounded.
"""
import argparse
import shutil
import subprocess
import sys
import time
import unittest

import httputil
from httputil import HttpBase, call, metric, post_records
import seglog_client as sc


class Metrics(HttpBase):
    ARGS = ("--sync", "always", "--workers", "2")

    def scrape(self):
        st, hd, body = call(self.h, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hd["content-type"].startswith("text/plain; version=0.0.4"), hd)
        return body.decode()

    def test_promtool_and_values(self):
        promtool = shutil.which("promtool")
        self.assertIsNotNone(promtool, "promtool missing: scripts/deps.sh test installs prometheus")
        # Traffic: ZeroMQ and HTTP produces, consumes, errors.
        for i in range(5):
            self.c.produce_batch("m1", [b"x" * 10] * 4)
        self.assertEqual(post_records(self.h, "m2", [{"value": "abc"}])[0], 200)
        self.c.consume("m1", 0, max_records=100)
        self.assertEqual(call(self.h, "GET", "/v1/topics/nope/records")[0], 404)
        self.assertEqual(call(self.h, "GET", "/v1/topics/m1/records?offset=999")[0], 416)
        text = self.scrape()
        r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, (r.stdout + r.stderr).decode() + "\n" + text)
        self.assertEqual(r.stdout + r.stderr, b"", "promtool lint: " + (r.stdout + r.stderr).decode())
        # What happened is counted.
        self.assertEqual(metric(text, "seglog_topic_produced_records_total", 'topic="m1"'), 20)
        self.assertEqual(metric(text, "seglog_topic_produced_records_total", 'topic="m2"'), 1)
        self.assertEqual(metric(text, "seglog_topic_consumed_records_total", 'topic="m1"'), 20)
        self.assertEqual(metric(text, "seglog_topic_log_end_offset", 'topic="m1"'), 20)
        self.assertEqual(metric(text, "seglog_topic_log_start_offset", 'topic="m1"'), 0)
        self.assertEqual(metric(text, "seglog_topic_segments", 'topic="m1"'), 1)
        self.assertGreater(metric(text, "seglog_topic_disk_bytes", 'topic="m1"'), 0)
        self.assertEqual(metric(text, "seglog_requests_total", 'type="produce",result="ok"'), 6)
        self.assertEqual(metric(text, "seglog_requests_total",
                                'type="consume",result="UNKNOWN_TOPIC"'), 1)
        self.assertEqual(metric(text, "seglog_requests_total",
                                'type="consume",result="OFFSET_OUT_OF_RANGE"'), 1)
        self.assertEqual(metric(text, "seglog_produce_latency_seconds_count"), 6)
        self.assertGreaterEqual(metric(text, "seglog_fsync_duration_seconds_count"), 2)
        self.assertEqual(metric(text, "seglog_commit_batch_records_sum"), 21)
        # The front end reads its socket monitor between requests, or when
        # its blocking receive times out (IDLE_WAIT_MS): the gauge may lag.
        httputil.wait_for(lambda: metric(self.scrape(), "seglog_connected_clients") == 1,
                          "the client connection to be counted")
        self.assertEqual(metric(text, "seglog_worker_queue_depth", 'worker="1"'), 0)
        self.assertEqual(metric(text, "seglog_http_requests_total", 'code="4xx"'), 2)
        # Another ZeroMQ client shows up, and leaves.
        import seglog_client as sc
        c2 = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000)
        c2.info()
        httputil.wait_for(lambda: metric(self.scrape(), "seglog_connected_clients") == 2,
                          "the second client to be counted")
        c2.close()
        httputil.wait_for(lambda: metric(self.scrape(), "seglog_connected_clients") == 1,
                          "the second client to leave")


class PubDrops(HttpBase):
    """seglog_pub_connections and seglog_pub_dropped_total: a subscriber that
    never reads (4 KiB kernel buffer, receive HWM 1, server --pub-hwm 10) is
    counted while connected and makes the publisher count drops; one that
    reads gets every record, and its records add no drop."""
    ARGS = ("--sync", "none", "--pub-hwm", "10", "--heartbeat-ms", "100")

    def scrape(self):
        st, _, body = call(self.h, "GET", "/metrics")
        self.assertEqual(st, 200)
        return body.decode()

    def sub(self, topic, rcvbuf=None):
        import zmq
        s = self.zctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        if rcvbuf:
            s.setsockopt(zmq.RCVBUF, rcvbuf)
            s.setsockopt(zmq.RCVHWM, 1)
        s.setsockopt(zmq.SUBSCRIBE, topic)
        s.connect(self.srv.pub)
        return s

    def test_slow_subscriber_drops_are_counted(self):
        import zmq
        self.zctx = zmq.Context()
        try:
            self.assertEqual(metric(self.scrape(), "seglog_pub_connections"), 0)
            self.assertEqual(metric(self.scrape(), "seglog_pub_dropped_total"), 0)
            slow = self.sub(b"drop", rcvbuf=4096)
            httputil.wait_for(lambda: metric(self.scrape(), "seglog_pub_connections") == 1,
                              "the subscriber connection to be counted")
            self.c.produce("drop", b"first") # the topic exists: wait for its heartbeat
            self.assertTrue(slow.poll(10000), "no heartbeat on the slow SUB")
            # 50 000 records of 200 B: far past 10 messages + 4 KiB + the
            # server's socket buffer, so the server's queue for it fills.
            for _ in range(200):
                self.c.produce_batch("drop", [b"d" * 200] * 250)
            dropped = httputil.wait_for(
                lambda: metric(self.scrape(), "seglog_pub_dropped_total") or None,
                "the drops for the slow SUB to be counted")
            self.assertGreater(dropped, 0)
            # The publisher sends them all (the drops are per subscriber); it may
            # still be at it when the first drop is counted.
            httputil.wait_for(
                lambda: metric(self.scrape(), "seglog_pub_messages_total",
                               'kind="record"') >= 50001,
                "the publisher to send every record")
            slow.close()
            httputil.wait_for(lambda: metric(self.scrape(), "seglog_pub_connections") == 0,
                              "the subscriber connection to leave")
            # A subscriber that reads gets all of its topic; nothing more drops.
            dropped = metric(self.scrape(), "seglog_pub_dropped_total")
            fast = self.sub(b"keep")
            httputil.wait_for(lambda: metric(self.scrape(), "seglog_pub_connections") == 1,
                              "the reading subscriber to be counted")
            # It keeps up: each record is read before the next is produced
            # (with --pub-hwm 10, a reader that let ten messages queue while
            # the machine is loaded would rightly lose some).
            prime = self.c.produce("keep", b"first") # the topic exists: wait for its heartbeat
            self.assertTrue(fast.poll(10000), "no event on the reading SUB")
            got = set()
            pb = sc.pb
            first = None
            for i in range(200):
                off = self.c.produce("keep", b"%d" % i)
                first = off if first is None else first
                deadline = time.monotonic() + 10
                while off not in got and time.monotonic() < deadline:
                    if not fast.poll(1000):
                        continue
                    topic, body = fast.recv_multipart()
                    ev = pb.Event()
                    ev.ParseFromString(body)
                    if ev.WhichOneof("body") == "record":
                        got.add(ev.record.offset)
                self.assertIn(off, got, "record %d never reached the reading SUB" % off)
            got.discard(prime)
            self.assertEqual(got, set(range(first, first + 200)))
            self.assertEqual(metric(self.scrape(), "seglog_pub_dropped_total"), dropped)
            fast.close()
        finally:
            self.zctx.destroy(linger=0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--seglog")
    args, rest = ap.parse_known_args()
    httputil.SEGLOGD = args.seglogd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
