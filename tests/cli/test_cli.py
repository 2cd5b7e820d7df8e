#!/usr/bin/python3
"""The seglog command-line tool, driven as a real binary against seglogd as
a child process: byte-exact round trips, exit codes, JSON output, SIGINT on
tail, broken pipes, environment variables and the progress line.

Run by ctest with PYTHONPATH holding the build-generated seglog_pb2, the
Python client (used to check what the tool wrote) and srvproc.py. Every
wait is bounded.
"""
import argparse
import base64
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import unittest

import seglog_client as sc
from srvproc import Server

SEGLOGD = None
SEGLOG = None
PYTHON = "/usr/bin/python3"
WAIT = 60.0


class Cli(unittest.TestCase):
    ARGS = ("--sync", "none", "--heartbeat-ms", "100")

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(SEGLOGD, *cls.ARGS)
        cls.env = dict(os.environ, SEGLOG_ENDPOINT=cls.srv.bind,
                       SEGLOG_PUB_ENDPOINT=cls.srv.pub)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.close()
        if rc not in (0, None):
            raise RuntimeError("seglogd did not stop cleanly (%s):\n%s" % (rc, cls.srv.last_log))

    def run_cli(self, *args, input=b"", env=None, timeout=WAIT):
        p = subprocess.run([SEGLOG, *args], input=input, capture_output=True,
                           env=self.env if env is None else env, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args, **kw):
        rc, out, err = self.run_cli(*args, **kw)
        self.assertEqual(rc, 0, "seglog %s: rc %d, stderr %r" % (args, rc, err))
        return out

    def test_stdin_roundtrip_10000_lines(self):
        rnd = random.Random(42)
        alphabet = bytes(b for b in range(256) if b != 10)
        lines = []
        for i in range(10000):
            kind = i % 5
            if kind == 0:
                lines.append(b"")  # an empty line is an empty record
            elif kind == 1:
                lines.append(b"line %d\twith tab\r" % i)
            else:
                lines.append(bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 200))))
        data = b"\n".join(lines) + b"\n"
        out = self.ok("produce", "-t", "rt", input=data)
        self.assertEqual(out, b"".join(b"%d\n" % i for i in range(10000)))
        raw = self.ok("consume", "-t", "rt", "--format", "raw")
        self.assertEqual(raw, data)  # byte for byte
        text = self.ok("consume", "-t", "rt", "--from", "9998")
        self.assertEqual(text, b"9998\t" + lines[9998] + b"\n9999\t" + lines[9999] + b"\n")
        self.assertEqual(self.ok("consume", "-t", "rt", "--from", "5", "--count", "2"),
                         b"5\t" + lines[5] + b"\n6\t" + lines[6] + b"\n")

    def test_produce_args_and_quiet(self):
        self.assertEqual(self.ok("produce", "-t", "args", "a", "b", "c"), b"0\n1\n2\n")
        out = self.ok("produce", "-q", "-t", "args", input=b"x\ny\n")
        self.assertEqual(out, b"produced 2 records to 'args', offsets 3..4\n")
        # a final line without a newline is a record too
        self.assertEqual(self.ok("produce", "-t", "args", input=b"z"), b"5\n")
        self.assertEqual(self.ok("consume", "-t", "args", "--format", "raw"),
                         b"a\nb\nc\nx\ny\nz\n")

    def test_exit_codes(self):
        self.ok("produce", "-t", "ec", "v")
        for args in (["bogus"], ["consume", "--nope"], ["consume", "--from", "x"],
                     ["consume", "--format", "xml"], ["consume", "--count"],
                     ["tail", "--count", "3"], ["truncate", "--before", "1"],
                     ["truncate", "-t", "ec"], ["offsets", "extra"], ["--timeout", "0", "offsets"],
                     ["produce", "-t", "bad/topic", "v"], ["offsets", "-t", ""],
                     ["produce", "-t", "-x", "v"], ["produce", "-t", "..", "v"],
                     ["--endpoint", "bogus", "offsets"], ["--pub-endpoint", "bogus", "tail"],
                     ["delete"], ["delete", "-t", "ec", "x"],
                     ["topics", "--format", "xml"], ["produce", "--key", "k", "--key-separator",
                                                     ":"],
                     ["produce", "--key-separator", "", "-t", "ec"],
                     ["produce", "--key-separator", ":", "-t", "ec", "v"],
                     []):
            rc, out, err = self.run_cli(*args)
            self.assertEqual(rc, 2, "%s: rc %d %r" % (args, rc, err))
            self.assertTrue(err)
        for cmd in ("produce", "consume", "tail", "offsets", "truncate", "topics", "delete"):
            out = self.ok(cmd, "--help")
            self.assertIn(b"usage: seglog " + cmd.encode(), out)
            self.assertIn(b"--endpoint", out)
        self.assertIn(b"commands:", self.ok("--help"))
        # server errors: one line on stderr, exit 1
        for args in (["consume", "-t", "no-such-topic"], ["consume", "-t", "ec", "--from", "9"],
                     ["offsets", "-t", "no-such-topic"], ["delete", "-t", "no-such-topic"]):
            rc, out, err = self.run_cli(*args)
            self.assertEqual(rc, 1, args)
            self.assertEqual(err.count(b"\n"), 1, err)
            self.assertTrue(err.startswith(b"seglog: "), err)
        # connection error: nobody listens there. Said so, with the default
        # policy, after one timeout (no retries: nothing was sent).
        t0 = time.monotonic()
        rc, out, err = self.run_cli("--endpoint", "tcp://127.0.0.1:1", "offsets")
        took = time.monotonic() - t0
        self.assertEqual(rc, 1)
        self.assertIn(b"is seglogd running at tcp://127.0.0.1:1?", err)
        self.assertEqual(err.count(b"\n"), 1, err)
        self.assertLess(took, 5.0)

    def test_topic_names_refused_by_the_cli(self):
        for t in ("", "-x", "--endpoint", "a/b", ".", "x" * 129):
            rc, out, err = self.run_cli("produce", "-t", t, "v")
            self.assertEqual(rc, 2, (t, err))
            self.assertIn(b"Try 'seglog produce --help'", err)
        # -t -x never reaches the server: no topic, no data/-x
        self.assertFalse(os.path.exists(os.path.join(self.srv.data, "-x")))
        self.assertNotIn(b"-x ", self.ok("topics"))
        # a long name is shortened, and its quotes close
        rc, out, err = self.run_cli("produce", "-t", "y" * 200, "v")
        self.assertEqual(rc, 2)
        first = err.split(b"\n")[0]
        self.assertIn(b"...", first)
        self.assertEqual(first.count(b"'"), 2, first)
        self.assertIn(b"(200 characters)", first)
        self.ok("produce", "-t", "z" * 128, "v")  # the longest allowed

    def test_stdin_stops_at_the_first_failure(self):
        """A 2 MB line in the middle: refused before it is sent, with the
        limit; nothing after it is stored; stderr says exactly which lines
        were not stored."""
        data = b"one\n" + b"x" * (2 << 20) + b"\nthree\nfour\n"
        t0 = time.monotonic()
        rc, out, err = self.run_cli("produce", "-t", "stop", input=data)
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, b"0\n")
        self.assertIn(b"failed at input line 2: record too large: input line 2 is 2097152 bytes", err)
        self.assertIn(b"takes at most 1048576", err)
        self.assertIn(b"not stored: input line 2 and every line after it", err)
        self.assertNotIn(b"stored after the failure", err)
        self.assertEqual(self.ok("consume", "-t", "stop", "--format", "raw"), b"one\n")
        # in a later batch: lines 1..2999 are stored, 3000 on are not
        lines = [b"%d" % i for i in range(1, 3000)] + [b"y" * (2 << 20), b"after"]
        rc, out, err = self.run_cli("produce", "-t", "stop2", input=b"\n".join(lines) + b"\n")
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, b"".join(b"%d\n" % i for i in range(2999)))
        self.assertIn(b"not stored: input line 3000 and every line after it", err)
        kv = dict(l.split(" ") for l in self.ok("offsets", "-t", "stop2").decode().splitlines())
        self.assertEqual(kv["next_offset"], "2999")

    def test_stdin_refused_by_the_server(self):
        """A batch the server refuses (here: --max-topics reached): the
        failure comes from its ack; nothing more is sent, and every line is
        accounted for."""
        srv = Server(SEGLOGD, "--sync", "none", "--max-topics", "1")
        try:
            env = dict(self.env, SEGLOG_ENDPOINT=srv.bind, SEGLOG_PUB_ENDPOINT=srv.pub)
            self.ok("produce", "-t", "only", "v", env=env)
            data = b"".join(b"%d\n" % i for i in range(5000))
            rc, out, err = self.run_cli("produce", "-t", "second", input=data, env=env)
            self.assertEqual(rc, 1, err)
            self.assertEqual(out, b"")
            self.assertIn(b"failed at input lines 1-1000: server resource exhausted", err)
            notstored = [l for l in err.split(b"\n") if l.startswith(b"seglog: not stored:")]
            self.assertEqual(len(notstored), 1, err)
            # 1-5000 if every batch was in flight, else "1 and every line after it"
            self.assertTrue(notstored[0] in (b"seglog: not stored: input lines 1-5000",
                                             b"seglog: not stored: input line 1 and every line "
                                             b"after it"), err)
            self.assertNotIn(b"stored after the failure", err)
            self.assertEqual(self.ok("topics", env=env).split(b" ")[0], b"only")
        finally:
            self.assertIn(srv.close(), (0, None))

    def test_keys(self):
        self.assertEqual(self.ok("produce", "-t", "keys", "--key", "K", "a", "b"), b"0\n1\n")
        self.assertEqual(self.ok("produce", "-t", "keys", "--key-separator", "::",
                                 input=b"k1::v1\n::empty key\nk3::v::3\n"), b"2\n3\n4\n")
        self.ok("produce", "-t", "keys", "--key", "L", input=b"line\n")
        self.ok("produce", "-t", "keys", input=b"nokey\n")
        objs = [json.loads(l) for l in self.ok("consume", "-t", "keys", "--format", "json")
                .decode().splitlines()]
        self.assertEqual([(o["key"], o["value"]) for o in objs],
                         [("K", "a"), ("K", "b"), ("k1", "v1"), (None, "empty key"),
                          ("k3", "v::3"), ("L", "line"), (None, "nokey")])
        # a line without the separator stops the stream there
        rc, out, err = self.run_cli("produce", "-t", "keys", "--key-separator", "=",
                                    input=b"a=1\nb\nc=3\n")
        self.assertEqual(rc, 1)
        self.assertEqual(out, b"7\n")
        self.assertIn(b"failed at input line 2: input line 2 has no key separator", err)
        self.assertIn(b"not stored: input line 2 and every line after it", err)

    def test_topics_and_delete(self):
        self.ok("produce", "-t", "lst-b", "1", "2")
        self.ok("produce", "-t", "lst-a", "1")
        text = self.ok("topics").decode().splitlines()
        names = [l.split(" ")[0] for l in text]
        self.assertEqual(names, sorted(names))
        self.assertIn("lst-b lowest_offset=0 next_offset=2 epoch=", "\n".join(text))
        objs = {o["topic"]: o for o in
                (json.loads(l) for l in self.ok("topics", "--format", "json").decode().splitlines())}
        self.assertEqual(objs["lst-a"]["next_offset"], 1)
        self.assertEqual(self.ok("delete", "-t", "lst-b"), b"deleted 'lst-b'\n")
        self.assertNotIn("lst-b", [l.split(" ")[0] for l in self.ok("topics").decode().splitlines()])
        rc, out, err = self.run_cli("delete", "-t", "lst-b")
        self.assertEqual(rc, 1)
        self.assertIn(b"unknown topic", err)
        rc, out, err = self.run_cli("delete")  # never "default" by omission
        self.assertEqual(rc, 2)

    def test_create(self):
        self.assertEqual(self.ok("create", "-t", "made"), b"created made replicas=1\n")
        out = self.ok("offsets", "-t", "made").decode()
        self.assertIn("next_offset 0", out)  # there, empty
        rc, out, err = self.run_cli("create", "-t", "made")
        self.assertEqual(rc, 1)
        self.assertIn(b"exists already (replicas=1)", err)
        self.assertEqual(self.ok("create", "-t", "made", "--if-not-exists"),
                         b"exists made replicas=1\n")
        rc, out, err = self.run_cli("create", "-t", "two", "--replicas", "2")
        self.assertEqual(rc, 1)
        self.assertIn(b"standalone server holds one replica", err)
        rc, out, err = self.run_cli("offsets", "-t", "two")
        self.assertEqual(rc, 1)  # a refused create creates nothing
        for bad in (["--replicas", "0"], ["--replicas", "17"], ["--replicas", "x"]):
            rc, out, err = self.run_cli("create", "-t", "bad", *bad)
            self.assertEqual(rc, 2, bad)
        rc, out, err = self.run_cli("create")  # the topic must be named
        self.assertEqual(rc, 2)
        rc, out, err = self.run_cli("create", "-t", "__consumer_offsets")
        self.assertEqual(rc, 1)
        self.assertIn(b"internal", err)

    def test_offsets_and_truncate(self):
        self.assertEqual(self.ok("produce", "-q", "-t", "adm", input=b"x\n" * 10),
                         b"produced 10 records to 'adm', offsets 0..9\n")
        out = self.ok("offsets", "-t", "adm").decode().split("\n")
        kv = dict(line.split(" ") for line in out if line)
        self.assertEqual(kv["lowest_offset"], "0")
        self.assertEqual(kv["next_offset"], "10")
        self.assertIn("epoch", kv)
        self.assertEqual(self.ok("truncate", "-t", "adm", "--before", "5"),
                         b"lowest_offset 0\n")  # one segment: nothing goes

    def test_env_and_flags(self):
        env = dict(self.env, SEGLOG_ENDPOINT="tcp://127.0.0.1:1")
        rc, _, _ = self.run_cli("offsets", "-t", "envt", "--timeout", "100", "--retries", "0",
                                env=env)
        self.assertEqual(rc, 1)  # the environment is used...
        self.ok("produce", "-t", "envt", "v", "--endpoint", self.srv.bind, env=env)
        rc, _, _ = self.run_cli("--endpoint", "tcp://127.0.0.1:1", "--timeout", "100",
                                "--retries", "0", "offsets", "-t", "envt")
        self.assertEqual(rc, 1)  # ...and a flag overrides it

    def test_json(self):
        with sc.Client(self.srv.bind, self.srv.pub) as c:
            c.produce_batch("js", [
                b"plain",
                "caf\u00e9 \u2603 \U0001F600".encode(),
                b"quote\" back\\ ctl\x01\x1f\x7f tab\t nl\n",
                b"\xff\xfe not utf8",
                b"\xed\xa0\x80",  # an encoded surrogate is not valid UTF-8
                b"\xc0\xaf",  # overlong
                (b"\x80key", b"v", 42),
                (b"key", b""),
            ])
        out = self.ok("consume", "-t", "js", "--format", "json")
        p = subprocess.run([PYTHON, "-m", "json.tool", "--json-lines"], input=out,
                           capture_output=True, timeout=WAIT)
        self.assertEqual(p.returncode, 0, p.stderr)
        objs = [json.loads(line) for line in out.decode("utf-8").splitlines()]
        self.assertEqual(len(objs), 8)

        def val(o, name):
            if o.get(name + "_encoding") == "base64":
                return base64.b64decode(o[name])
            return None if o[name] is None else o[name].encode("utf-8")

        self.assertEqual(val(objs[0], "value"), b"plain")
        self.assertNotIn("value_encoding", objs[1])
        self.assertEqual(val(objs[1], "value"), "caf\u00e9 \u2603 \U0001F600".encode())
        self.assertEqual(val(objs[2], "value"), b"quote\" back\\ ctl\x01\x1f\x7f tab\t nl\n")
        for i in (3, 4, 5):
            self.assertEqual(objs[i]["value_encoding"], "base64")
        self.assertEqual(val(objs[3], "value"), b"\xff\xfe not utf8")
        self.assertEqual(val(objs[4], "value"), b"\xed\xa0\x80")
        self.assertEqual(val(objs[6], "key"), b"\x80key")
        self.assertEqual(objs[6]["timestamp_ms"], 42)
        self.assertEqual(objs[6]["offset"], 6)
        self.assertIsNone(objs[0]["key"])
        self.assertEqual(objs[7]["key"], "key")
        self.assertEqual(objs[7]["value"], "")

    def test_broken_pipe_is_quiet(self):
        self.ok("produce", "-q", "-t", "bp", input=b"".join(b"%d\n" % i for i in range(20000)))
        for fmt in ("text", "json", "raw"):
            p1 = subprocess.Popen([SEGLOG, "consume", "-t", "bp", "--format", fmt],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
            p2 = subprocess.run(["head", "-n", "1"], stdin=p1.stdout, capture_output=True,
                                timeout=WAIT)
            p1.stdout.close()
            err = p1.stderr.read()
            p1.stderr.close()
            rc = p1.wait(timeout=WAIT)
            self.assertEqual(p2.stdout.count(b"\n"), 1)
            self.assertEqual((rc, err), (0, b""), fmt)

    def test_tail_sigint_prints_everything(self):
        self.ok("produce", "-q", "-t", "tl", input=b"".join(b"v%d\n" % i for i in range(1000)))
        p = subprocess.Popen([SEGLOG, "tail", "-t", "tl", "--from", "earliest"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        try:
            with sc.Client(self.srv.bind) as c:
                for i in range(1000, 1500, 10):
                    c.produce_batch("tl", [b"v%d" % k for k in range(i, i + 10)])
            # read until all 1500 lines arrived, bounded
            buf, deadline = b"", time.monotonic() + WAIT
            while buf.count(b"\n") < 1500 and time.monotonic() < deadline:
                r, _, _ = select.select([p.stdout], [], [], 0.5)
                if r:
                    chunk = os.read(p.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    buf += chunk
            p.send_signal(signal.SIGINT)
            rest, err = p.communicate(timeout=WAIT)
            buf += rest
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(buf, b"".join(b"%d\tv%d\n" % (i, i) for i in range(1500)))

    def test_config(self):
        self.ok("produce", "-t", "cfg", "a")
        self.assertEqual(self.ok("config", "-t", "cfg"),
                         b"retention.bytes - -1\nretention.ms - -1\n")
        self.assertEqual(self.ok("config", "-t", "cfg", "--set", "retention.ms=86400000"),
                         b"retention.bytes - -1\nretention.ms 86400000 86400000\n")
        self.assertEqual(self.ok("config", "-t", "cfg", "--get"),
                         b"retention.bytes - -1\nretention.ms 86400000 86400000\n")
        rc, _, err = self.run_cli("config", "-t", "cfg", "--set", "retention.ms=soon")
        self.assertEqual(rc, 1)
        self.assertIn(b"retention.ms: expected a whole number", err)
        rc, _, err = self.run_cli("config", "-t", "cfg", "--set", "nonsense")
        self.assertEqual(rc, 2)
        rc, _, err = self.run_cli("config", "--get")
        self.assertEqual(rc, 2)  # the topic must be named
        with sc.Client(self.srv.bind) as c:
            self.assertEqual(c.topic_config("cfg", {"retention.ms": ""}),
                             {"retention.bytes": ("", "-1"), "retention.ms": ("", "-1")})
            with self.assertRaises(sc.ServerError) as cm:
                c.topic_config("cfg", {"retention.size": "1"})
            self.assertEqual(cm.exception.code, "BAD_REQUEST")

    def test_consume_from_time(self):
        with sc.Client(self.srv.bind) as c:
            # 2026-12-04T10:00:00Z is 1796378400000 ms
            base = 1796378400000
            c.produce_batch("ft", [(None, b"r%d" % i, base - 2000 + 1000 * i) for i in range(5)])
        out = self.ok("consume", "-t", "ft", "--from-time", "2026-12-04T10:00:00Z",
                      "--format", "raw")
        self.assertEqual(out, b"r2\nr3\nr4\n")
        out = self.ok("consume", "-t", "ft", "--from-time", "2026-12-04T11:00:00.500+01:00",
                      "--format", "raw")
        self.assertEqual(out, b"r3\nr4\n")
        self.assertEqual(self.ok("consume", "-t", "ft", "--from-time", str(base + 1), "--format",
                                 "raw"), b"r3\nr4\n")
        self.assertEqual(self.ok("consume", "-t", "ft", "--from-time", "2030-01-01T00:00:00Z"),
                         b"")
        for bad in ("yesterday", "2026-12-04T10:00:00", "2026-12-04T10:00:00+1:00", "-5"):
            rc, _, err = self.run_cli("consume", "-t", "ft", "--from-time", bad)
            self.assertEqual(rc, 2, (bad, err))
            self.assertIn(b"--from-time", err)
        rc, _, err = self.run_cli("consume", "-t", "ft", "--from", "1", "--from-time", "1")
        self.assertEqual(rc, 2)

    def test_consume_follow(self):
        self.ok("produce", "-t", "fol", "a", "b")
        p = subprocess.Popen([SEGLOG, "consume", "-t", "fol", "--follow", "--format", "raw"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        try:
            buf, deadline, sent = b"", time.monotonic() + WAIT, False
            while buf.count(b"\n") < 4 and time.monotonic() < deadline:
                if buf.count(b"\n") == 2 and not sent:
                    self.ok("produce", "-t", "fol", "c", "d")  # the follower waits at the end
                    sent = True
                r, _, _ = select.select([p.stdout], [], [], 0.5)
                if r:
                    buf += os.read(p.stdout.fileno(), 65536)
            p.send_signal(signal.SIGINT)
            rest, err = p.communicate(timeout=WAIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(buf + rest, b"a\nb\nc\nd\n")
        # --follow with --count ends by itself
        self.assertEqual(self.ok("consume", "-t", "fol", "--follow", "--count", "3",
                                 "--format", "raw"), b"a\nb\nc\n")

    def test_consume_group_resumes(self):
        self.ok("produce", "-t", "grp", "a", "b", "c", "d", "e")
        # a new group starts at the earliest record and commits as it goes
        self.assertEqual(self.ok("consume", "-t", "grp", "--group", "G", "--count", "2",
                                 "--format", "raw"), b"a\nb\n")
        self.assertEqual(self.ok("consume", "-t", "grp", "--group", "G", "--count", "2",
                                 "--format", "raw"), b"c\nd\n")
        self.assertEqual(self.ok("consume", "-t", "grp", "--group", "G", "--format", "raw"),
                         b"e\n")
        self.assertEqual(self.ok("consume", "-t", "grp", "--group", "G", "--format", "raw"), b"")
        self.ok("produce", "-t", "grp", "f")
        self.assertEqual(self.ok("consume", "-t", "grp", "--group", "G", "--format", "raw"),
                         b"f\n")
        # another group has its own position; --from overrides (and commits)
        self.assertEqual(self.ok("consume", "-t", "grp", "--group", "H", "--from", "4",
                                 "--format", "raw"), b"e\nf\n")
        self.assertEqual(self.ok("consume", "-t", "grp", "--group", "H", "--format", "raw"), b"")
        rc, out, err = self.run_cli("consume", "-t", "grp", "--group", "bad/name")
        self.assertEqual(rc, 1)
        self.assertIn(b"invalid group name", err)

    def test_tail_latest_and_new_topic(self):
        # a topic that does not exist yet: tail waits for it
        p = subprocess.Popen([SEGLOG, "tail", "-t", "born-later", "--format", "raw"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        try:
            time.sleep(0.3)  # not needed for correctness: the tail finds them anyway
            self.ok("produce", "-t", "born-later", "a", "b")
            buf, deadline = b"", time.monotonic() + WAIT
            while buf.count(b"\n") < 2 and time.monotonic() < deadline:
                r, _, _ = select.select([p.stdout], [], [], 0.5)
                if r:
                    buf += os.read(p.stdout.fileno(), 65536)
            p.send_signal(signal.SIGINT)
            rest, err = p.communicate(timeout=WAIT)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(buf + rest, b"a\nb\n")

    def test_progress_line_on_a_terminal(self):
        data = b"".join(b"%d\n" % i for i in range(6000))
        master, slave = os.openpty()
        try:
            p = subprocess.run([SEGLOG, "produce", "-q", "-t", "prog"], input=data,
                               stdout=subprocess.PIPE, stderr=slave, env=self.env, timeout=WAIT)
            os.close(slave)
            slave = -1
            err = b""
            while True:
                r, _, _ = select.select([master], [], [], 0.2)
                if not r:
                    break
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                err += chunk
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"6000 lines read, 6000 acknowledged", err)
        # not on a pipe
        rc, out, err = self.run_cli("produce", "-q", "-t", "prog", input=data)
        self.assertEqual((rc, err), (0, b""))


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
