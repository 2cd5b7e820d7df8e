#!/usr/bin/python3
"""The status page (GET /, docs/HTTP.md) in a real headless browser:
chromium driven by chromedriver through python3-selenium. Load the page,
produce records through the HTTP gateway, and see the topic's next offset
and its produce rate change on the page. A missing browser, driver or
selenium is a failure (scripts/deps.sh test installs them), not a skip.
"""
import argparse
import shutil
import sys
import tempfile
import time
import unittest

import httputil
from httputil import HttpBase, post_records

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def browser():
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromedriver are needed (scripts/deps.sh test)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    profile = tempfile.mkdtemp(prefix="seglog-chromium-")
    opts.add_argument("--user-data-dir=" + profile)
    return webdriver.Chrome(service=Service(driver), options=opts), profile


class StatusPage(HttpBase):
    def cell(self, drv, topic, cls):
        rows = drv.find_elements(By.CSS_SELECTOR, '#topics tbody tr[data-key="%s"]' % topic)
        if not rows:
            return None
        return rows[0].find_element(By.CSS_SELECTOR, "td." + cls).text

    def wait_cell(self, drv, topic, cls, pred, what):
        deadline = time.monotonic() + httputil.WAIT
        last = None
        while time.monotonic() < deadline:
            last = self.cell(drv, topic, cls)
            if last is not None and pred(last):
                return last
            time.sleep(0.1)
        self.fail("page never showed %s (last %r):\n%s" % (what, last, drv.page_source[:3000]))

    def test_page_follows_produces(self):
        self.assertEqual(post_records(self.h, "page", [{"value": "a"}] * 3)[0], 200)
        drv, profile = browser()
        try:
            drv.set_page_load_timeout(20)
            drv.get("http://%s/" % self.h)
            self.assertEqual(drv.title, "seglog status")
            self.wait_cell(drv, "page", "next", lambda t: t == "3", "next offset 3")
            self.assertEqual(drv.find_element(By.ID, "sync").text, "none")
            # Produce through the gateway while the page refreshes.
            deadline = time.monotonic() + httputil.WAIT
            rate_seen = False
            n = 3
            while time.monotonic() < deadline and not rate_seen:
                st, _ = post_records(self.h, "page", [{"value": "b"}] * 50)
                self.assertEqual(st, 200)
                n += 50
                rate = self.cell(drv, "page", "rate-in")
                rate_seen = rate not in (None, "-") and float(rate) > 0
                time.sleep(0.05)
            self.assertTrue(rate_seen, "the produce rate never rose above 0")
            self.wait_cell(drv, "page", "next", lambda t: int(t) >= n - 50, "the new next offset")
            # A topic that appears later gets its row.
            self.assertEqual(post_records(self.h, "page2", [{"value": "c"}])[0], 200)
            self.wait_cell(drv, "page2", "next", lambda t: t == "1", "the new topic")
            clients = drv.find_element(By.ID, "clients").text
            self.assertEqual(clients, "1")  # this test's ZeroMQ client
        finally:
            drv.quit()
            shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seglogd", required=True)
    ap.add_argument("--seglog")
    args, rest = ap.parse_known_args()
    httputil.SEGLOGD = args.seglogd
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
