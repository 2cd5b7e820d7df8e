#!/usr/bin/python3
"""200 concurrent HTTP connections against seglogd (docs/HTTP.md): every
one is answered, and the server's descriptors come back (read from
/proc/PID/fd, as tests/server/test_abuse.c does): a second round of 200
leaves no more open than the first, and an idle server holds at most its
listener's pool of gateway sockets beyond its start. Every wait is bounded.
"""
import argparse
import http.client
import sys
import threading
import unittest

import httputil
from httputil import HttpBase, fd_count, wait_for

N = 200
POOL_KEEP = 64  # HTTP_POOL_KEEP in src/server/http_impl.h


class Fds(HttpBase):
    def round(self):
        host, port = self.h.rsplit(":", 1)
        conns = [http.client.HTTPConnection(host, int(port), timeout=30) for _ in range(N)]
        for c in conns:
            c.connect()  # all 200 open at once
        statuses = [None] * N
        barrier = threading.Barrier(N)

        def one(i):
            barrier.wait(30)
            path = "/v1/topics/fd/records?offset=0" if i % 2 else "/healthz"
            for _ in range(2):  # keep-alive: two requests per connection
                conns[i].request("GET", path)
                r = conns[i].getresponse()
                r.read()
                statuses[i] = r.status
        threads = [threading.Thread(target=one, args=(i,)) for i in range(N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(statuses, [200] * N)
        for c in conns:
            c.close()

    def test_200_concurrent_connections(self):
        self.c.produce("fd", b"x")
        pid = self.srv.proc.pid
        start = fd_count(pid)
        self.round()
        conns = lambda: httputil.metric(
            httputil.call(self.h, "GET", "/metrics")[2].decode(), "seglog_http_connections")
        wait_for(lambda: conns() == 1, "the connections to close")  # 1: this scrape
        after1 = fd_count(pid)
        self.round()
        wait_for(lambda: conns() == 1, "the connections to close")
        wait_for(lambda: fd_count(pid) <= after1, "descriptors back to %d (now %d)"
                 % (after1, fd_count(pid)))
        self.assertLessEqual(after1, start + POOL_KEEP + 4,
                             "descriptors: %d at start, %d after 200 connections" % (start, after1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--seglog")
    args, rest = ap.parse_known_args()
    httputil.SEGLOGD = args.seglogd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
