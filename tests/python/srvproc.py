"""seglogd as a child process, for the Python client and CLI tests.

Server(seglogd, *args) starts it with its data in a fresh temporary
directory on tcp://127.0.0.1:* for both sockets and learns the ports from
--endpoints-file. stop() ends it (SIGTERM, or SIGKILL for a crash);
restart() runs it again on the same data and the same, now explicit,
endpoints. The child dies with the test process (PR_SET_PDEATHSIG), so a
failing test never leaves a server behind. Every wait is bounded.
"""
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time

START_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Server:
    def __init__(self, seglogd, *extra):
        self.seglogd = seglogd
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="seglog-pyclient-")
        self.data = os.path.join(self.dir, "data")
        self.proc = None
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self._spawn("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")

    def _spawn(self, bind, pub):
        eps = os.path.join(self.dir, "endpoints")
        if os.path.exists(eps):
            os.unlink(eps)
        self.proc = subprocess.Popen(
            [self.seglogd, "--data-dir", self.data, "--bind", bind, "--pub", pub,
             "--endpoints-file", eps, "--log-level", "warn", *self.extra],
            stdout=self.log, stderr=self.log, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(eps):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError("seglogd did not start:\n" + self.log_text())
            time.sleep(0.01)
        with open(eps) as f:
            kv = dict(line.strip().split("=", 1) for line in f if "=" in line)
        self.bind, self.pub = kv["bind"], kv["pub"]
        self.http = kv.get("http")  # "HOST:PORT" with --http

    def log_text(self):
        with open(os.path.join(self.dir, "log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM):
        """Send sig and reap; returns the exit status (0 after a clean
        SIGTERM shutdown, -9 after SIGKILL)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.send_signal(signal.SIGCONT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def restart(self):
        """Stop (a clean shutdown is required) and start again on the same
        data and endpoints."""
        rc = self.stop()
        if rc not in (None, 0, -signal.SIGKILL):
            raise RuntimeError("seglogd exited with %s:\n%s" % (rc, self.log_text()))
        last = None
        for _ in range(50):  # the old port may take a moment to be free
            try:
                self._spawn(self.bind, self.pub)
                return
            except RuntimeError as e:
                last = e
                time.sleep(0.1)
        raise last

    def relaunch(self):
        """Start again on the same data, on new ephemeral ports (bind and
        pub are updated), after a stop of any kind (kill -9 included)."""
        self.stop(signal.SIGKILL)
        self._spawn("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")

    def close(self):
        """Stop with SIGTERM and remove everything; returns the exit status
        (under ASan a leak makes it non-zero). The log is kept in .last_log."""
        rc = self.stop()
        self.log.close()
        self.last_log = self.log_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc
