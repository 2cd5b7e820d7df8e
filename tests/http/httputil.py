"""Helpers for the HTTP listener's tests (docs/HTTP.md): seglogd with
--http 127.0.0.1:0 as a child process (srvproc.Server), plain HTTP calls
with http.client, and the server's descriptor count from /proc."""
import http.client
import json
import os
import time
import unittest

import seglog_client as sc
from srvproc import Server

SEGLOGD = None
WAIT = 20.0  # bound on any wait


def call(hostport, method, path, body=None, headers=None, timeout=30):
    """(status, headers dict, body bytes) of one request on a new connection."""
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def call_json(hostport, method, path, body=None, headers=None):
    """(status, decoded JSON body)."""
    st, hd, data = call(hostport, method, path, body, headers)
    assert hd.get("content-type", "").startswith("application/json"), (st, hd, data)
    return st, json.loads(data)


def post_records(hostport, topic, records, query="", ctype="application/json"):
    body = json.dumps(records).encode() if ctype == "application/json" else records
    return call_json(hostport, "POST", "/v1/topics/%s/records%s" % (topic, query), body,
                     {"Content-Type": ctype})


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def wait_for(pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


def metric(text, name, labels=""):
    """The value of one series in a /metrics text, or None."""
    key = name + ("{%s}" % labels if labels else "")
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    return None


class HttpBase(unittest.TestCase):
    """seglogd with --http on a free loopback port, and a ZeroMQ client."""
    ARGS = ("--sync", "none")

    def setUp(self):
        self.srv = Server(SEGLOGD, "--http", "127.0.0.1:0", *self.ARGS)
        self.assertIsNotNone(self.srv.http, "no http= line in the endpoints file")
        self.h = self.srv.http
        self.c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=10000)

    def tearDown(self):
        self.c.close()
        rc = self.srv.close()
        self.assertIn(rc, (0, None), "seglogd did not stop cleanly:\n" + self.srv.last_log)

    def zmq_still_serves(self, topic="zmq-alive"):
        """A ZeroMQ client is served meanwhile: produce and read back."""
        off = self.c.produce(topic, b"still here")
        [r] = self.c.consume(topic, off)
        self.assertEqual(r.value, b"still here")
