#!/usr/bin/python3
"""The HTTP/JSON gateway (docs/HTTP.md) against seglogd as a child process:
UTF-8 and binary values round-trip both ways between HTTP and ZeroMQ, every
bad input gets its JSON error and HTTP status while ZeroMQ clients are still
served, the event stream is gap-free, and slow, abandoned and excess streams
are bounded. Health and readiness; the loopback rule. Every wait is bounded.
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import httputil
from httputil import HttpBase, call, call_json, metric, post_records, wait_for
import seglog_client as sc
from srvproc import Server

UTF8_VALUES = ["héllo", "日本語", "emoji \U0001F600", 'quote " backslash \\ nl \n tab \t',
               "\x01\x1f control", "", "plain"]
BINARY_VALUES = [bytes(range(256)), b"\x00", b"\xff\xfe\xfd", b"\xc0\x80", b"a\x00b"]


def b64(b):
    return base64.b64encode(b).decode()


class Stream:
    """A server-sent event stream read with http.client."""

    def __init__(self, hostport, path, headers=None, timeout=10):
        host, port = hostport.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()

    def event(self):
        """(event name, id or None, data as JSON)."""
        name, eid, data = None, None, None
        while True:
            line = self.resp.readline()
            if not line:
                raise EOFError("stream ended")
            line = line.decode().rstrip("\n")
            if line == "":
                if name:
                    return name, eid, json.loads(data)
                continue
            k, _, v = line.partition(": ")
            if k == "event":
                name = v
            elif k == "id":
                eid = v
            elif k == "data":
                data = v

    def close(self):
        self.conn.close()


class Gateway(HttpBase):
    ARGS = ("--sync", "none", "--max-record-bytes", "4K")

    def test_utf8_round_trip(self):
        recs = [{"key": "k%d" % i, "value": v} for i, v in enumerate(UTF8_VALUES)]
        st, j = post_records(self.h, "u8", recs)
        self.assertEqual(st, 200, j)
        self.assertEqual((j["offset"], j["count"]), (0, len(recs)))
        self.assertEqual(j["offsets"], list(range(len(recs))))
        # Over ZeroMQ: the UTF-8 bytes exactly.
        got = self.c.consume("u8", 0, max_records=100)
        self.assertEqual([r.value for r in got], [v.encode() for v in UTF8_VALUES])
        self.assertEqual([r.key for r in got], [("k%d" % i).encode() for i in range(len(recs))])
        # Over HTTP: the same strings, no encoding marker.
        st, j = call_json(self.h, "GET", "/v1/topics/u8/records?offset=0&max=100")
        self.assertEqual(st, 200, j)
        self.assertEqual([r["value"] for r in j["records"]], UTF8_VALUES)
        self.assertTrue(all("value_encoding" not in r for r in j["records"]))
        self.assertEqual((j["next_offset"], j["end_offset"]), (len(recs), len(recs)))
        # ZeroMQ-produced UTF-8 reads back as a string.
        off = self.c.produce("u8", "zmq ünïcode".encode(), key=b"zk")
        st, j = call_json(self.h, "GET", "/v1/topics/u8/records?offset=%d" % off)
        self.assertEqual((j["records"][0]["value"], j["records"][0]["key"]), ("zmq ünïcode", "zk"))

    def test_binary_round_trip(self):
        # base64 per record, and for the whole body from the query
        recs = [{"key": b64(b"\x00k"), "value": b64(v), "value_encoding": "base64"}
                for v in BINARY_VALUES]
        st, j = post_records(self.h, "bin", recs)
        self.assertEqual(st, 200, j)
        st, j = post_records(self.h, "bin", [{"value": b64(v)} for v in BINARY_VALUES],
                             "?value_encoding=base64")
        self.assertEqual((st, j["offset"]), (200, len(BINARY_VALUES)))
        got = self.c.consume("bin", 0, max_records=100)
        self.assertEqual([r.value for r in got], BINARY_VALUES * 2)
        self.assertEqual(got[0].key, b"\x00k")
        # Read back: not UTF-8 (or with NUL) -> base64 with the marker.
        st, j = call_json(self.h, "GET", "/v1/topics/bin/records?offset=0&max=100")
        for r, v in zip(j["records"], BINARY_VALUES * 2):
            self.assertEqual(r["value_encoding"], "base64")
            self.assertEqual(base64.b64decode(r["value"]), v)
        # ZeroMQ-produced binary, read as base64 on request.
        off = self.c.produce("bin", bytes(range(255, -1, -1)))
        st, j = call_json(self.h, "GET",
                          "/v1/topics/bin/records?offset=%d&value_encoding=base64" % off)
        self.assertEqual(base64.b64decode(j["records"][0]["value"]), bytes(range(255, -1, -1)))

    def test_ndjson_offsets_and_list(self):
        body = b'{"value":"a"}\n\n{"key":"k","value":"b"}\r\n{"value":"c"}'
        st, j = post_records(self.h, "nd", body, ctype="application/x-ndjson")
        self.assertEqual((st, j["count"]), (200, 3), j)
        st, j = call_json(self.h, "GET", "/v1/topics/nd")
        self.assertEqual(st, 200, j)
        self.assertEqual((j["lowest_offset"], j["next_offset"]), (0, 3))
        self.assertEqual(int(j["epoch"]), self.c.offsets("nd").epoch)
        st, j = call_json(self.h, "GET", "/v1/topics")
        self.assertIn("nd", [t["name"] for t in j["topics"]])

    def expect_error(self, st_j, status, name):
        st, j = st_j
        self.assertEqual((st, j.get("error")), (status, name), j)
        self.assertTrue(j.get("message"), j)
        self.zmq_still_serves()

    def test_errors(self):
        self.assertEqual(post_records(self.h, "err", [{"value": "x"}])[0], 200)
        h = self.h
        J = {"Content-Type": "application/json"}
        self.expect_error(call_json(h, "POST", "/v1/topics/err/records", b'[{"value":', J),
                          400, "BAD_REQUEST")
        self.expect_error(call_json(h, "POST", "/v1/topics/err/records", b'x',
                                    {"Content-Type": "text/plain"}), 415, "BAD_REQUEST")
        self.expect_error(call_json(h, "POST", "/v1/topics/err/records", b'[]'),
                          415, "BAD_REQUEST")
        # The body limit is 2 x max_message_bytes (4 x 4K + 64K).
        big = json.dumps([{"value": "x" * 200000}]).encode()
        self.expect_error(call_json(h, "POST", "/v1/topics/err/records", big, J),
                          413, "BAD_REQUEST")
        self.expect_error(post_records(h, "err", [{"value": "x" * 5000}]), 413,
                          "RECORD_TOO_LARGE")
        self.expect_error(post_records(h, "bad%20name", [{"value": "x"}]), 400, "INVALID_TOPIC")
        self.expect_error(post_records(h, "err", []), 400, "BAD_REQUEST")
        self.expect_error(post_records(h, "err", [{"value": 5}]), 400, "BAD_REQUEST")
        self.expect_error(post_records(h, "err", [{"value": "!!"}], "?value_encoding=base64"),
                          400, "BAD_REQUEST")
        self.expect_error(call_json(h, "GET", "/v1/topics/nope/records"), 404, "UNKNOWN_TOPIC")
        self.expect_error(call_json(h, "GET", "/v1/topics/nope"), 404, "UNKNOWN_TOPIC")
        self.expect_error(call_json(h, "GET", "/v1/topics/err/records?offset=5"), 416,
                          "OFFSET_OUT_OF_RANGE")
        self.expect_error(call_json(h, "GET", "/v1/topics/err/records?offset=-1"), 400,
                          "BAD_REQUEST")
        self.expect_error(call_json(h, "GET", "/v1/topics/err/records?max=0"), 400,
                          "BAD_REQUEST")
        self.expect_error(call_json(h, "GET", "/v1/nothing"), 404, "NOT_FOUND")
        self.expect_error(call_json(h, "DELETE", "/v1/topics/err/records"), 405,
                          "METHOD_NOT_ALLOWED")
        # Nothing of the refused produces was appended.
        self.assertEqual(self.c.offsets("err").next_offset, 1)

    def test_stream_gap_free(self):
        for i in range(0, 50, 10):
            self.c.produce_batch("s", [b"v%d" % k for k in range(i, i + 10)])
        s = Stream(self.h, "/v1/topics/s/stream?offset=10")
        self.assertEqual(s.resp.status, 200)
        self.assertEqual(s.resp.getheader("Content-Type"), "text/event-stream")
        done = threading.Event()

        def produce_more():
            for i in range(50, 250, 20):
                self.c.produce_batch("s", [b"v%d" % k for k in range(i, i + 20)])
            done.set()

        c2 = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000)
        self.c, c_main = c2, self.c  # the producer thread gets its own client
        t = threading.Thread(target=produce_more)
        t.start()
        try:
            expect = 10
            deadline = time.monotonic() + httputil.WAIT
            while expect < 250:
                self.assertLess(time.monotonic(), deadline)
                name, eid, data = s.event()
                if name == "heartbeat":
                    continue
                self.assertEqual(name, "record")
                self.assertEqual((int(eid), data["offset"]), (expect, expect))
                self.assertEqual(data["value"], "v%d" % expect)
                expect += 1
        finally:
            t.join(30)
            s.close()
            c2.close()
            self.c = c_main
        self.assertTrue(done.is_set())
        # Resuming with Last-Event-ID starts after it.
        s = Stream(self.h, "/v1/topics/s/stream", {"Last-Event-ID": "247"})
        self.assertEqual(s.event()[2]["offset"], 248)
        s.close()

    def test_stream_errors(self):
        self.c.produce("se", b"x")
        self.expect_error(call_json(self.h, "GET", "/v1/topics/none/stream"), 404,
                          "UNKNOWN_TOPIC")
        self.expect_error(call_json(self.h, "GET", "/v1/topics/se/stream?offset=9"), 416,
                          "OFFSET_OUT_OF_RANGE")
        self.expect_error(call_json(self.h, "POST", "/v1/topics/se/stream"), 405,
                          "METHOD_NOT_ALLOWED")

    def streams(self):
        return metric(call(self.h, "GET", "/metrics")[2].decode(), "seglog_http_streams")

    def test_slow_and_abandoned_streams(self):
        self.c.produce("slow", b"first")
        host, port = self.h.rsplit(":", 1)
        # A client that asks for the stream and never reads.
        slow = socket.create_connection((host, int(port)), timeout=10)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /v1/topics/slow/stream?offset=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        # One that leaves at once.
        gone = Stream(self.h, "/v1/topics/slow/stream?offset=0")
        gone.close()
        wait_for(lambda: self.streams() is not None and self.streams() >= 1, "a stream")
        # Fill the slow one's way: 4 MB of records, while ZeroMQ and HTTP are served.
        t0 = time.monotonic()
        for i in range(100):
            self.c.produce_batch("slow", [b"y" * 4000] * 10)
            if i % 20 == 0:
                self.zmq_still_serves()
                self.assertEqual(call(self.h, "GET", "/healthz")[0], 200)
        self.assertLess(time.monotonic() - t0, 15, "producing stalled behind a slow stream")
        wait_for(lambda: self.streams() == 1, "the abandoned stream to end")
        slow.close()
        wait_for(lambda: self.streams() == 0, "the slow stream to end")
        self.zmq_still_serves()

    def test_stream_limit(self):
        self.c.produce("lim", b"x")
        opened = []
        try:
            for _ in range(64):
                s = Stream(self.h, "/v1/topics/lim/stream")
                self.assertEqual(s.resp.status, 200)
                opened.append(s)
            self.expect_error(call_json(self.h, "GET", "/v1/topics/lim/stream"), 429,
                              "RESOURCE_EXHAUSTED")
        finally:
            for s in opened:
                s.close()
        wait_for(lambda: self.streams() == 0, "every stream to end")
        s = Stream(self.h, "/v1/topics/lim/stream")
        self.assertEqual(s.resp.status, 200)
        s.close()

    def test_health(self):
        st, j = call_json(self.h, "GET", "/healthz")
        self.assertEqual((st, j["status"]), (200, "ok"), j)
        self.assertEqual(j["sync"], "none")
        st, j = call_json(self.h, "GET", "/readyz")
        self.assertEqual((st, j["status"], j["recovered"], j["cluster"]),
                         (200, "ready", True, False), j)


class Loopback(unittest.TestCase):
    def test_non_loopback_needs_allow_plaintext(self):
        with self.assertRaises(RuntimeError) as cm:
            Server(httputil.SEGLOGD, "--http", "0.0.0.0:0")
        self.assertIn("refusing to serve plaintext HTTP on non-loopback", str(cm.exception))
        srv = Server(httputil.SEGLOGD, "--http", "0.0.0.0:0", "--allow-plaintext")
        try:
            port = srv.http.rsplit(":", 1)[1]
            self.assertEqual(call("127.0.0.1:" + port, "GET", "/healthz")[0], 200)
        finally:
            self.assertEqual(srv.close(), 0, srv.last_log)


class Curve(unittest.TestCase):
    """With --curve-cert: loopback only, and the gateway fails closed."""

    def test_gateway_fails_closed(self):
        d = tempfile.mkdtemp(prefix="seglog-http-curve-")
        try:
            os.mkdir(os.path.join(d, "clients"))
            p = subprocess.run([SEGLOG, "keygen", "server", "--dir", d], capture_output=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            sec = ("--curve-cert", os.path.join(d, "server.key_secret"),
                   "--clients-dir", os.path.join(d, "clients"))
            with self.assertRaises(RuntimeError) as cm:
                Server(httputil.SEGLOGD, "--http", "0.0.0.0:0", "--allow-plaintext", *sec)
            self.assertIn("binds loopback only", str(cm.exception))
            srv = Server(httputil.SEGLOGD, "--http", "127.0.0.1:0", *sec)
            try:
                h = srv.http
                for method, path in (("GET", "/v1/topics/t/records"), ("GET", "/v1/topics"),
                                     ("GET", "/v1/topics/t/stream")):
                    st, j = call_json(h, method, path)
                    self.assertEqual((st, j["error"]), (403, "PERMISSION_DENIED"), j)
                    self.assertIn("no CURVE identity", j["message"])
                st, j = post_records(h, "t", [{"value": "x"}])
                self.assertEqual((st, j["error"]), (403, "PERMISSION_DENIED"), j)
                self.assertEqual(call_json(h, "GET", "/healthz")[0], 200)
                self.assertEqual(call_json(h, "GET", "/readyz")[0], 200)
                self.assertEqual(call_json(h, "GET", "/v1/status")[0], 200)
                self.assertEqual(call(h, "GET", "/metrics")[0], 200)
            finally:
                self.assertEqual(srv.close(), 0, srv.last_log)
        finally:
            shutil.rmtree(d, ignore_errors=True)


SEGLOG = None


def main():
    global SEGLOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--seglog", required=True)
    args, rest = ap.parse_known_args()
    httputil.SEGLOGD = args.seglogd
    SEGLOG = args.seglog
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
