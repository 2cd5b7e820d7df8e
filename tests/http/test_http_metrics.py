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
import unittest

import httputil
from httputil import HttpBase, call, metric, post_records


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
        self.assertEqual(metric(text, "seglog_connected_clients"), 1)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--seglog")
    args, rest = ap.parse_known_args()
    httputil.SEGLOGD = args.seglogd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
