#!/usr/bin/python3
"""Interop: a Python client written from docs/PROTOCOL.md and the .proto only.

Starts seglogd as a child process on ephemeral ports, then checks produce,
consume, pipelining (many requests in flight, replies matched by id), the
error codes, REQ/DEALER framing and the PUB stream. Every wait is bounded.

Run by ctest with PYTHONPATH pointing at the build-generated seglog_pb2.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import zmq

import seglog_pb2 as pb

SEGLOGD = None
TIMEOUT_MS = 10000
MAX_RECORD = 4096


class Server:
    """seglogd in a temp dir on tcp://127.0.0.1:*."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="seglog-interop-")
        eps = os.path.join(self.dir, "endpoints")
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(
            [SEGLOGD, "--data-dir", os.path.join(self.dir, "data"),
             "--bind", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*",
             "--endpoints-file", eps, "--heartbeat-ms", "100", *extra],
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not os.path.exists(eps):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("seglogd did not start:\n" + self.log_text())
            time.sleep(0.01)
        with open(eps) as f:
            kv = dict(line.strip().split("=", 1) for line in f if "=" in line)
        self.bind, self.pub = kv["bind"], kv["pub"]

    def log_text(self):
        with open(os.path.join(self.dir, "log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM, then the exit status (it must be 0 for a clean shutdown)."""
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        else:
            rc = self.proc.returncode
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


class Client:
    """A DEALER (optionally REQ-style with an empty delimiter) or a REQ."""

    def __init__(self, ctx, endpoint, kind="dealer"):
        self.kind = kind
        self.sock = ctx.socket(zmq.REQ if kind == "req" else zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.next_id = 1

    def close(self):
        self.sock.close()

    def send(self, req):
        if not req.id:
            req.id = self.next_id
            self.next_id += 1
        self.send_raw(req.SerializeToString())
        return req.id

    def send_raw(self, data):
        if self.kind == "delim":
            self.sock.send_multipart([b"", data])
        else:
            self.sock.send(data)

    def recv(self, timeout_ms=TIMEOUT_MS):
        if not self.sock.poll(timeout_ms):
            raise TimeoutError("no reply")
        frames = self.sock.recv_multipart()
        if self.kind == "delim":
            assert frames[0] == b"" and len(frames) == 2, frames
        resp = pb.Response()
        resp.ParseFromString(frames[-1])
        return resp

    def call(self, req):
        rid = self.send(req)
        resp = self.recv()
        assert resp.id == rid, (resp.id, rid)
        return resp

    def produce(self, topic, values, keys=None):
        req = pb.Request()
        req.produce.topic = topic
        for i, v in enumerate(values):
            rec = req.produce.records.add(value=v)
            if keys:
                rec.key = keys[i]
        return self.call(req)

    def consume(self, topic, offset, max_records=0, max_bytes=0):
        req = pb.Request()
        req.consume.topic = topic
        req.consume.offset = offset
        req.consume.max_records = max_records
        req.consume.max_bytes = max_bytes
        return self.call(req)

    def offsets(self, topic):
        req = pb.Request()
        req.offsets.topic = topic
        return self.call(req)

    def truncate(self, topic, lowest):
        req = pb.Request()
        req.truncate.topic = topic
        req.truncate.lowest_offset = lowest
        return self.call(req)


class InteropTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ctx = zmq.Context()
        cls.srv = Server("--sync", "none", "--max-record-bytes", str(MAX_RECORD),
                         "--segment-bytes", "16K")

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.ctx.term()
        assert rc == 0, "seglogd exit status %r" % rc

    def setUp(self):
        self.c = Client(self.ctx, self.srv.bind)

    def tearDown(self):
        self.c.close()

    def assertError(self, resp, code):
        self.assertEqual(resp.WhichOneof("body"), "error", resp)
        self.assertEqual(resp.error.code, code, resp.error.message)
        self.assertTrue(resp.error.message)

    def test_produce_consume(self):
        r = self.c.produce("py-basic", [b"a", b"b", b"c"], keys=[b"k1", b"", b"k3"])
        self.assertEqual(r.WhichOneof("body"), "produce")
        self.assertEqual((r.produce.offset, r.produce.count), (0, 3))
        r = self.c.consume("py-basic", 0, max_records=10)
        self.assertEqual(r.WhichOneof("body"), "consume")
        recs = r.consume.records
        self.assertEqual([x.value for x in recs], [b"a", b"b", b"c"])
        self.assertEqual([x.offset for x in recs], [0, 1, 2])
        self.assertEqual([x.key for x in recs], [b"k1", b"", b"k3"])
        now = time.time() * 1000
        self.assertTrue(all(abs(x.timestamp_ms - now) < 60000 for x in recs))
        self.assertEqual(r.consume.next_offset, 3)
        self.assertEqual(r.consume.end_offset, 3)
        # at the end: empty, not an error
        r = self.c.consume("py-basic", 3)
        self.assertEqual(r.WhichOneof("body"), "consume")
        self.assertEqual(len(r.consume.records), 0)
        self.assertEqual(r.consume.next_offset, 3)
        r = self.c.offsets("py-basic")
        self.assertEqual((r.offsets.lowest_offset, r.offsets.next_offset), (0, 3))
        self.assertNotEqual(r.offsets.epoch, 0)

    def test_client_timestamp_kept_and_default_topic(self):
        req = pb.Request()
        req.produce.topic = ""
        req.produce.records.add(value=b"x", timestamp_ms=42, offset=12345)
        r = self.c.call(req)
        off = r.produce.offset
        r = self.c.consume("default", off)
        self.assertEqual(r.consume.records[0].timestamp_ms, 42)
        self.assertEqual(r.consume.records[0].offset, off)

    def test_socket_kinds(self):
        for kind in ("req", "delim", "dealer"):
            c = Client(self.ctx, self.srv.bind, kind)
            try:
                r = c.produce("py-kinds", [kind.encode()])
                self.assertEqual(r.WhichOneof("body"), "produce")
                r = c.consume("py-kinds", r.produce.offset)
                self.assertEqual(r.consume.records[0].value, kind.encode())
            finally:
                c.close()

    def test_pipelining_ids_matched(self):
        n, window = 3000, 500
        ids = random.sample(range(1, 1 << 60), n)
        sent, replies, order = 0, {}, []
        deadline = time.monotonic() + 60
        while len(replies) < n:
            self.assertLess(time.monotonic(), deadline)
            while sent < n and sent - len(replies) < window:
                req = pb.Request(id=ids[sent])
                req.produce.topic = "py-pipe"
                req.produce.records.add(value=b"%d" % sent)
                self.c.send(req)
                sent += 1
            r = self.c.recv()
            self.assertEqual(r.WhichOneof("body"), "produce")
            self.assertNotIn(r.id, replies)
            replies[r.id] = r.produce.offset
            order.append(r.id)
        # replies come back in request order, offsets in send order
        self.assertEqual(order, ids)
        offs = [replies[i] for i in ids]
        self.assertEqual(offs, list(range(offs[0], offs[0] + n)))
        # mixed request kinds in flight keep their order too
        kinds = []
        for i in range(100):
            req = pb.Request(id=10 + i)
            if i % 3 == 0:
                req.produce.topic = "py-pipe"
                req.produce.records.add(value=b"m")
            elif i % 3 == 1:
                req.consume.topic = "py-pipe"
                req.consume.offset = offs[0]
            else:
                req.offsets.topic = "py-pipe"
            kinds.append(req.WhichOneof("body"))
            self.c.send(req)
        for i in range(100):
            r = self.c.recv()
            self.assertEqual(r.id, 10 + i)
            self.assertEqual(r.WhichOneof("body"), kinds[i])

    def test_error_codes(self):
        E = pb
        self.assertError(self.c.consume("py-none", 0), E.UNKNOWN_TOPIC)
        self.assertError(self.c.offsets("py-none"), E.UNKNOWN_TOPIC)
        self.assertError(self.c.truncate("py-none", 0), E.UNKNOWN_TOPIC)
        for bad in (".", "..", "a/b", "x" * 129, "sp ace", "\u00e4"):
            self.assertError(self.c.produce(bad, [b"v"]), E.INVALID_TOPIC)
        self.assertEqual(self.c.produce("x" * 128, [b"v"]).WhichOneof("body"), "produce")
        self.assertError(self.c.produce("py-err", [b"v" * (MAX_RECORD + 1)]),
                         E.RECORD_TOO_LARGE)
        self.c.produce("py-err", [b"v"])
        self.assertError(self.c.consume("py-err", 5), E.OFFSET_OUT_OF_RANGE)
        # bad requests: no body, no records, undecodable bytes, empty frame
        self.assertError(self.c.call(pb.Request(id=99)), E.BAD_REQUEST)
        req = pb.Request()
        req.produce.topic = "py-err"
        self.assertError(self.c.call(req), E.BAD_REQUEST)
        for junk in (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b""):
            self.c.send_raw(junk)
            r = self.c.recv()
            self.assertError(r, E.BAD_REQUEST)
            self.assertEqual(r.id, 0)
        self.c.sock.send_multipart([b"f"] * 1000)
        self.assertError(self.c.recv(), E.BAD_REQUEST)
        # a batch that cannot fit in one 16 KiB segment
        self.assertError(self.c.produce("py-err", [b"b" * MAX_RECORD] * 5),
                         E.BATCH_TOO_LARGE)
        # still serving
        self.assertEqual(self.c.offsets("py-err").WhichOneof("body"), "offsets")

    def test_truncate(self):
        for i in range(40):  # 40 x 1 KiB over 16 KiB segments
            self.c.produce("py-trunc", [b"%04d" % i + b"." * 1020])
        r = self.c.truncate("py-trunc", 30)
        self.assertEqual(r.WhichOneof("body"), "truncate")
        low = r.truncate.lowest_offset
        self.assertTrue(0 < low <= 30, low)
        self.assertError(self.c.consume("py-trunc", 0), pb.OFFSET_TRUNCATED)
        r = self.c.consume("py-trunc", low)
        self.assertEqual(r.consume.records[0].offset, low)
        self.assertEqual(r.consume.lowest_offset, low)
        self.assertError(self.c.truncate("py-trunc", 41), pb.OFFSET_OUT_OF_RANGE)

    def test_consume_bounds(self):
        self.c.produce("py-bounds", [b"%03d" % i + b"." * 97 for i in range(50)])
        r = self.c.consume("py-bounds", 10, max_records=7)
        self.assertEqual([x.offset for x in r.consume.records], list(range(10, 17)))
        self.assertEqual(r.consume.next_offset, 17)
        r = self.c.consume("py-bounds", 0, max_records=100, max_bytes=350)
        self.assertEqual(len(r.consume.records), 3)
        r = self.c.consume("py-bounds", 0, max_records=100, max_bytes=1)
        self.assertEqual(len(r.consume.records), 1)

    def _sub(self, topic):
        sub = self.ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(self.srv.pub)
        sub.setsockopt(zmq.SUBSCRIBE, topic.encode())
        return sub

    def _next_event(self, sub, timeout_ms=TIMEOUT_MS):
        if not sub.poll(timeout_ms):
            raise TimeoutError("no event")
        frames = sub.recv_multipart()
        self.assertEqual(len(frames), 2)
        ev = pb.Event()
        ev.ParseFromString(frames[1])
        return frames[0], ev

    def _wait_heartbeat(self, sub, topic):
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            t, ev = self._next_event(sub)
            if t == topic.encode() and ev.WhichOneof("body") == "heartbeat":
                return ev.heartbeat
        raise TimeoutError("no heartbeat")

    def test_subscribe(self):
        self.c.produce("py-sub", [b"first"])
        sub = self._sub("py-sub")
        try:
            hb = self._wait_heartbeat(sub, "py-sub")
            self.assertEqual(hb.next_offset, 1)
            self.assertEqual(hb.epoch, self.c.offsets("py-sub").offsets.epoch)
            for i in range(10):
                self.c.produce("py-sub", [b"v%d-%d" % (i, k) for k in range(50)])
                self.c.produce("py-sub-other", [b"x"])  # same prefix: filtered by us
            expect, deadline = 1, time.monotonic() + 30
            while expect < 501:
                self.assertLess(time.monotonic(), deadline)
                t, ev = self._next_event(sub)
                if t != b"py-sub":
                    self.assertEqual(t, b"py-sub-other")
                    continue
                if ev.WhichOneof("body") == "record":
                    self.assertEqual(ev.record.offset, expect)
                    i, k = divmod(expect - 1, 50)
                    self.assertEqual(ev.record.value, b"v%d-%d" % (i, k))
                    expect += 1
            hb = self._wait_heartbeat(sub, "py-sub")
            self.assertEqual(hb.next_offset, 501)
        finally:
            sub.close()


def main():
    global SEGLOGD
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    args, rest = ap.parse_known_args()
    SEGLOGD = args.seglogd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
