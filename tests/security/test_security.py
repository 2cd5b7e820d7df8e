#!/usr/bin/python3
"""CURVE, zauth and ACLs (docs/SECURITY.md), end to end: seglogd as a child
process, the seglog tool (the C library) and the Python client (pyzmq),
plus raw pyzmq sockets for the PUB side.

Certificates are made with `seglog keygen`. Every wait is bounded; waits
for something that must NOT arrive are bounded by a positive control that
did arrive first (or by the server's log line saying it refused).
"""
import argparse
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import zmq

import seglog_client as sc
from srvproc import Server

SEGLOGD = None
SEGLOG = None
WAIT = 30.0
TIMEOUT_MS = 1500

ACL = """\
# client            topic-pattern  rights
name:producer       orders         produce
name:consumer       orders         consume
name:consumer       orders-eu      produce
name:admin          *              admin,produce,consume
name:globber        logs.*         produce,consume
"""


def keygen(name, d):
    p = subprocess.run([SEGLOG, "keygen", name, "--dir", d], capture_output=True, timeout=WAIT)
    if p.returncode != 0:
        raise RuntimeError("keygen %s: %r" % (name, p.stderr))
    return os.path.join(d, name + ".key")


def wait_for(pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.02)


class Keys:
    """A server certificate, a clients dir with the known clients' public
    certificates, and their secret certificates outside it."""

    def __init__(self, names):
        self.dir = tempfile.mkdtemp(prefix="seglog-sec-")
        self.clients = os.path.join(self.dir, "clients")
        self.secrets = os.path.join(self.dir, "secrets")
        os.mkdir(self.clients)
        os.mkdir(self.secrets)
        self.server_pub = keygen("server", self.dir)
        self.server_cert = self.server_pub + "_secret"
        for n in names:
            self.add(n)
        keygen("stranger", self.secrets)  # never in clients/
        self.acl = os.path.join(self.dir, "acl")
        with open(self.acl, "w") as f:
            f.write(ACL)

    def add(self, name):
        pub = keygen(name, self.secrets)
        shutil.copy(pub, os.path.join(self.clients, name + ".key"))

    def cert(self, name):
        return os.path.join(self.secrets, name + ".key_secret")

    def server_args(self, acl=True):
        a = ["--curve-cert", self.server_cert, "--clients-dir", self.clients]
        return a + (["--acl", self.acl] if acl else [])

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Base(unittest.TestCase):
    ACL = True

    @classmethod
    def setUpClass(cls):
        cls.keys = Keys(["producer", "consumer", "admin", "globber", "nobody", "bob"])
        cls.srv = Server(SEGLOGD, "--sync", "none", "--heartbeat-ms", "100",
                         *cls.keys.server_args(cls.ACL))

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.close()
        cls.keys.close()
        if rc not in (0, None):
            raise RuntimeError("seglogd did not stop cleanly (%s):\n%s" % (rc, cls.srv.last_log))

    def client(self, name, **kw):
        kw.setdefault("timeout_ms", TIMEOUT_MS)
        kw.setdefault("retries", 0)
        return sc.Client(self.srv.bind, self.srv.pub, curve_server_key=self.keys.server_pub,
                         curve_cert=self.keys.cert(name), **kw)

    def cli(self, *args, env=None, curve="consumer"):
        cmd = [SEGLOG, "--endpoint", self.srv.bind, "--pub-endpoint", self.srv.pub,
               "--timeout", str(TIMEOUT_MS), "--retries", "0"]
        if curve:
            cmd += ["--curve-server-key", self.keys.server_pub,
                    "--curve-cert", self.keys.cert(curve)]
        t0 = time.monotonic()
        p = subprocess.run(cmd + list(args), capture_output=True, timeout=WAIT,
                           env=env if env is not None else dict(os.environ))
        return p.returncode, p.stdout, p.stderr.decode(), time.monotonic() - t0


class Authentication(Base):
    ACL = False  # no --acl: every known key may do everything

    def test_known_key_roundtrip_python_and_cli(self):
        with self.client("producer") as c:
            first = c.produce_batch("auth", [b"a", b"b"])
            self.assertEqual([r.value for r in c.consume_range("auth", first, 10).records],
                             [b"a", b"b"])
        rc, out, err, _ = self.cli("produce", "-t", "auth", "c")
        self.assertEqual(rc, 0, err)
        rc, out, err, _ = self.cli("consume", "-t", "auth")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split(b"\n")[2], b"2\tc")

    def test_cli_env_vars(self):
        env = dict(os.environ, SEGLOG_CURVE_SERVER_KEY=self.keys.server_pub,
                   SEGLOG_CURVE_CERT=self.keys.cert("admin"))
        rc, out, err, _ = self.cli("produce", "-t", "envt", "x", env=env, curve=None)
        self.assertEqual(rc, 0, err)
        # the server key as 40 Z85 characters works too
        with open(self.keys.server_pub) as f:
            z85 = [l.split('"')[1] for l in f if "public-key" in l][0]
        rc, out, err, _ = self.cli("--curve-server-key", z85, "consume", "-t", "envt", env=env,
                                   curve=None)
        self.assertEqual(rc, 0, err)
        self.assertIn(b"x", out)

    def test_unknown_key_refused_fast_cli(self):
        rc, out, err, took = self.cli("consume", "-t", "auth", curve="stranger")
        self.assertEqual(rc, 1)
        self.assertIn("handshake failed", err)
        self.assertIn("--clients-dir", err)
        self.assertLess(took, TIMEOUT_MS / 1000.0 + 2)

    def test_unknown_key_refused_python(self):
        c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=TIMEOUT_MS, retries=0,
                      curve_server_key=self.keys.server_pub,
                      curve_cert=os.path.join(self.keys.secrets, "stranger.key_secret"))
        try:
            with self.assertRaises(sc.HandshakeError) as cm:
                c.produce("auth", b"nope")
            self.assertIn("handshake failed", str(cm.exception))
        finally:
            c.close()

    def test_plaintext_client_refused(self):
        rc, out, err, took = self.cli("consume", "-t", "auth", curve=None)
        self.assertEqual(rc, 1)
        self.assertIn("handshake failed", err)
        self.assertLess(took, TIMEOUT_MS / 1000.0 + 2)
        c = sc.Client(self.srv.bind, self.srv.pub, timeout_ms=TIMEOUT_MS, retries=0)
        try:
            with self.assertRaises(sc.HandshakeError):
                c.info()
        finally:
            c.close()

    def test_wrong_server_key(self):
        wrong = os.path.join(self.keys.secrets, "stranger.key")
        rc, out, err, took = self.cli("--curve-server-key", wrong, "consume", "-t", "auth")
        self.assertEqual(rc, 1)
        self.assertIn("handshake failed", err)
        self.assertLess(took, TIMEOUT_MS / 1000.0 + 2)

    def test_key_removed_then_added_without_restart(self):
        with self.client("bob") as c:
            c.produce("rot", b"1")
        pub = os.path.join(self.keys.clients, "bob.key")
        with open(pub) as f:
            saved = f.read()
        os.unlink(pub)
        try:
            c = self.client("bob")
            with self.assertRaises(sc.HandshakeError):
                c.produce("rot", b"2")
            c.close()
        finally:
            with open(pub, "w") as f:
                f.write(saved)
        with self.client("bob") as c:  # back in: admitted again, no restart
            c.produce("rot", b"3")
            self.assertEqual([r.value for r in c.consume_range("rot", 0, 10).records],
                             [b"1", b"3"])

    def test_unknown_key_subscriber_gets_nothing(self):
        ctx = zmq.Context()
        try:
            server = sc.curve_keys(self.keys.server_pub, self.keys.cert("consumer"))[0]
            s_pub, s_sec = sc._read_cert(os.path.join(self.keys.secrets, "stranger.key_secret"))
            bad = ctx.socket(zmq.SUB)
            bad.curve_serverkey, bad.curve_publickey, bad.curve_secretkey = server, s_pub, s_sec
            bad.setsockopt(zmq.SUBSCRIBE, b"")
            bad.connect(self.srv.pub)
            with self.client("consumer") as c:
                t = c.open_tail("subu", "earliest", wait_for_topic=True)
                with self.client("producer") as p:
                    deadline = time.monotonic() + WAIT
                    got = None
                    while got is None and time.monotonic() < deadline:
                        p.produce("subu", b"v")
                        got = t.next(200)
                    self.assertIsNotNone(got)
                t.close()
            self.assertEqual(bad.poll(300), 0, "an unknown key received PUB data")
            bad.close(linger=0)
        finally:
            ctx.destroy(linger=0)


class Acl(Base):
    def denied(self, fn, *args):
        with self.assertRaises(sc.ServerError) as cm:
            fn(*args)
        self.assertEqual(cm.exception.code, "PERMISSION_DENIED")
        return cm.exception.message

    def topics(self):
        with self.client("admin") as a:
            return [t.name for t in a.list_topics()]

    def test_produce_only(self):
        with self.client("producer") as c:
            c.produce("orders", b"p1")
            msg = self.denied(c.consume, "orders", 0)
            self.assertIn("consume", msg)
            self.assertIn("orders", msg)
            self.assertIn("name:producer", msg)
            self.denied(c.offsets, "orders")
            self.denied(c.truncate, "orders", 0)
            self.denied(c.produce, "other", b"x")
            c.produce("orders", b"p2")  # the connection stays up
        self.assertNotIn("other", self.topics())  # a refused produce created nothing

    def test_consume_only(self):
        with self.client("admin") as a:
            a.produce("orders", b"seed")
        with self.client("consumer") as c:
            self.assertGreaterEqual(c.offsets("orders").next_offset, 1)
            c.consume("orders", 0)
            msg = self.denied(c.produce, "orders", b"x")
            self.assertIn("produce", msg)
            self.denied(c.delete_topic, "orders")
            self.denied(c.produce, "fresh", b"x")
        self.assertNotIn("fresh", self.topics())

    def test_admin(self):
        with self.client("admin") as a:
            a.produce("scratch", b"1")
            a.truncate("scratch", 0)
            a.delete_topic("scratch")
        self.assertNotIn("scratch", self.topics())

    def test_globs(self):
        with self.client("globber") as g:
            g.produce("logs.a", b"1")
            g.produce("logs.b", b"2")
            g.consume("logs.a", 0)
            self.denied(g.produce, "logsX", b"x")
            self.denied(g.consume, "orders", 0)
            self.denied(g.truncate, "logs.a", 0)

    def test_default_deny_and_filtered_list(self):
        with self.client("admin") as a:
            a.produce("orders", b"x")
            a.produce("logs.c", b"x")
        with self.client("nobody") as n:
            n.info()  # open to every known key
            self.assertEqual(n.list_topics(), [])
            self.denied(n.produce, "orders", b"x")
            self.denied(n.consume, "orders", 0)
            self.denied(n.offsets, "logs.c")
        with self.client("globber") as g:
            names = [t.name for t in g.list_topics()]
            self.assertIn("logs.c", names)
            self.assertNotIn("orders", names)

    def test_cli_tail_live_with_curve(self):
        """The C library's tail (SUB with CURVE and the "topic\\0" frame): a
        record produced after it started arrives; without the live stream
        it would never learn of it (heartbeats come over the SUB too)."""
        cmd = [SEGLOG, "--endpoint", self.srv.bind, "--pub-endpoint", self.srv.pub,
               "--timeout", str(TIMEOUT_MS), "--curve-server-key", self.keys.server_pub,
               "--curve-cert", self.keys.cert("consumer"), "tail", "-t", "orders"]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = b""
        try:
            with self.client("admin") as a:
                deadline = time.monotonic() + WAIT
                while b"for-the-tail" not in out and time.monotonic() < deadline:
                    self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
                    a.produce("orders", b"for-the-tail")
                    if select.select([p.stdout], [], [], 0.2)[0]:
                        out += os.read(p.stdout.fileno(), 65536)
            self.assertIn(b"for-the-tail", out)
            p.send_signal(signal.SIGINT)
            self.assertEqual(p.wait(timeout=WAIT), 0)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()

    def test_cli_permission_denied_message(self):
        rc, out, err, _ = self.cli("produce", "-t", "orders", "x", curve="consumer")
        self.assertEqual(rc, 1)
        self.assertIn("permission denied", err)
        self.assertIn("orders", err)

    def test_subscriptions_need_consume(self):
        """XPUB_MANUAL: only exact subscriptions ("topic\\0") with the consume
        right are applied; a key without it, and a prefix subscription,
        receive nothing."""
        with self.client("admin") as a:
            a.produce("orders", b"seed")
            a.produce("orders-eu", b"seed")
        ctx = zmq.Context()
        socks = {}
        try:
            def sub(name, prefix):
                s = ctx.socket(zmq.SUB)
                s.curve_serverkey, s.curve_publickey, s.curve_secretkey = sc.curve_keys(
                    self.keys.server_pub, self.keys.cert(name))
                s.setsockopt(zmq.SUBSCRIBE, prefix)
                s.connect(self.srv.pub)
                return s
            refused_before = self.srv.log_text().count("subscription refused")
            socks["producer"] = sub("producer", b"orders\0")     # no consume right
            socks["prefix"] = sub("consumer", b"orders")         # not exact
            socks["eu"] = sub("consumer", b"orders-eu\0")        # produce-only topic
            wait_for(lambda: self.srv.log_text().count("subscription refused")
                     >= refused_before + 3, "3 refused subscriptions in the log")
            ok = sub("consumer", b"orders\0")
            socks["ok"] = ok
            with self.client("admin") as a:
                deadline = time.monotonic() + WAIT
                while not ok.poll(100) and time.monotonic() < deadline:
                    a.produce("orders", b"live")
                    a.produce("orders-eu", b"live")
            frames = ok.recv_multipart()
            self.assertEqual(frames[0], b"orders\0")
            for name in ("producer", "prefix", "eu"):
                self.assertEqual(socks[name].poll(300), 0, name + " received PUB data")
        finally:
            for s in socks.values():
                s.close(linger=0)
            ctx.destroy(linger=0)

    def test_python_tail_with_acl(self):
        with self.client("consumer") as c:
            t = c.open_tail("orders", "latest")
            with self.client("admin") as a:
                deadline = time.monotonic() + WAIT
                got = None
                while got is None and time.monotonic() < deadline:
                    a.produce("orders", b"tailed")
                    got = t.next(200)
            self.assertIsNotNone(got)
            self.assertGreater(t.stats().live + t.stats().fetches, 0)
            t.close()
        with self.client("producer") as p:
            with self.assertRaises(sc.ServerError) as cm:
                p.open_tail("orders", "latest")
            self.assertEqual(cm.exception.code, "PERMISSION_DENIED")


class Plaintext(unittest.TestCase):
    def start(self, *args):
        d = tempfile.mkdtemp(prefix="seglog-sec-plain-")
        try:
            p = subprocess.run([SEGLOGD, "--data-dir", os.path.join(d, "data"), *args,
                                "--endpoints-file", os.path.join(d, "eps")],
                               capture_output=True, timeout=5)
            return p.returncode, p.stderr.decode()
        except subprocess.TimeoutExpired:
            return None, ""  # still running: it started
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_any_address_refused(self):
        for args in (["--bind", "tcp://0.0.0.0:*", "--pub", "tcp://127.0.0.1:*"],
                     ["--bind", "tcp://127.0.0.1:*", "--pub", "tcp://*:*"]):
            rc, err = self.start(*args)
            self.assertEqual(rc, 1, err)
            self.assertIn("seglog keygen", err)
            self.assertIn("--curve-cert", err)
            self.assertIn("--allow-plaintext", err)

    def test_allowed_with_flag(self):
        d = tempfile.mkdtemp(prefix="seglog-sec-plain-")
        try:
            eps = os.path.join(d, "eps")
            proc = subprocess.Popen([SEGLOGD, "--data-dir", os.path.join(d, "data"),
                                     "--bind", "tcp://0.0.0.0:*", "--pub", "tcp://0.0.0.0:*",
                                     "--allow-plaintext", "--endpoints-file", eps],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for(lambda: os.path.exists(eps) or proc.poll() is not None, "start")
                self.assertIsNone(proc.poll())
                with open(eps) as f:
                    port = [l for l in f if l.startswith("bind=")][0].rsplit(":", 1)[1]
                with sc.Client("tcp://127.0.0.1:" + port.strip(), timeout_ms=TIMEOUT_MS) as c:
                    c.info()
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=WAIT), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_curve_client_vs_plaintext_server(self):
        keys = Keys([])
        srv = Server(SEGLOGD)
        try:
            cmd = [SEGLOG, "--endpoint", srv.bind, "--timeout", str(TIMEOUT_MS), "--retries", "0",
                   "--curve-server-key", keys.server_pub, "--curve-cert",
                   os.path.join(keys.secrets, "stranger.key_secret"), "topics"]
            t0 = time.monotonic()
            p = subprocess.run(cmd, capture_output=True, timeout=WAIT)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"handshake failed", p.stderr)
            # "does not use CURVE (mechanism mismatch)" or, when the server
            # hangs up first, "... does it use CURVE ...": both say why
            self.assertIn(b"use CURVE", p.stderr)
            self.assertLess(time.monotonic() - t0, TIMEOUT_MS / 1000.0 + 2)
        finally:
            self.assertEqual(srv.close(), 0)
            keys.close()

    def test_keygen_files(self):
        d = tempfile.mkdtemp(prefix="seglog-sec-keygen-")
        try:
            pub = keygen("alice", d)
            sec = pub + "_secret"
            self.assertEqual(stat.S_IMODE(os.stat(sec).st_mode), 0o600)
            with open(pub) as f:
                text = f.read()
            self.assertIn('name = "alice"', text)
            self.assertNotIn("secret-key", text)
            with open(sec) as f:
                self.assertIn("secret-key", f.read())
            p = subprocess.run([SEGLOG, "keygen", "alice", "--dir", d], capture_output=True)
            self.assertEqual(p.returncode, 1)  # no silent overwrite
        finally:
            shutil.rmtree(d, ignore_errors=True)


def main():
    global SEGLOGD, SEGLOG
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--seglog", required=True)
    args, rest = ap.parse_known_args()
    SEGLOGD, SEGLOG = args.seglogd, args.seglog
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
