#!/usr/bin/env python3
"""report.py OUTDIR - the comparison table from OUTDIR/results.jsonl.

Every figure is the median of the runs, with the min-max spread; ratios
are seglog's median divided by the other's median. Writes OUTDIR/table.md
(also printed), OUTDIR/results.json and OUTDIR/results.csv (one row per
figure). Standard library only.
"""
import csv
import json
import statistics
import sys
from collections import defaultdict

import report_cluster

SYSTEMS = [("seglog", "seglog"), ("redis", "Redis"), ("jetstream", "JetStream")]
# The plain-client comparison (issue 12), in table order.
PLAIN_SYSTEMS = [("plain", "plain C (libzmq + protobuf-c)"), ("pyzmq", "pyzmq"),
                 ("echo", "ZeroMQ echo, same client"), ("seglog", "project client"),
                 ("redis", "Redis XADD (hiredis)"), ("jetstream", "JetStream (nats.js)")]


def si(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


class Figures:
    """Samples keyed by (kind, params..., system, metric)."""

    def __init__(self, rows):
        self.s = defaultdict(list)
        for r in rows:
            self.add(r)

    def add(self, r):
        if report_cluster.add(self.s, r):
            return
        w, sysname, size = r["workload"], r["system"], int(r["size"])
        dur = int(r.get("durable", 0))
        if w == "produce":
            self.s[("produce", dur, size, r["batch"], r["clients"], sysname, "rate")].append(r["rate"])
        elif w == "plain":
            key = ("plain", size, r["clients"], r["window"], sysname)
            self.s[key + ("rate",)].append(r["rate"])
            for p in ("p50_us", "p99_us"):
                if p in r:
                    self.s[key + (p,)].append(r[p])
        elif w == "workers":
            lab = dict(kv.split("=", 1) for kv in r["label"].split())
            n, mode = int(lab["workers"]), lab.get("on", "default")
            self.s[("workers", n, mode, r["topics"], r["clients"], sysname, "rate")].append(r["rate"])
        elif w == "echo":
            self.s[("echo", size, r["batch"], r["clients"], "rate")].append(r["rate"])
        elif w == "write":
            self.s[("write", size, "rate")].append(r["rate"])
            self.s[("write", size, "mbps")].append(r["mbps"])
        elif w == "fdatasync":
            self.s[("fdatasync", "rate")].append(r["rate"])
        elif w == "consume":
            self.s[("consume", size, sysname, "rate")].append(r["rate"])
        elif w == "latency":
            for k in ("produce", "consume"):
                for p in ("p50", "p99", "p999"):
                    self.s[("latency", size, k, p, sysname)].append(r[f"{k}_{p}_us"])
        elif w == "echo-latency":
            for p in ("p50", "p99", "p999"):
                self.s[("latency", size, "echo", p, "echo")].append(r[f"{p}_us"])
        elif w == "tail":
            for k in ("ack_rx_p50_us", "ack_rx_p99_us", "send_rx_p50_us", "send_rx_p99_us",
                      "rate_achieved"):
                self.s[("tail", dur, size, sysname, k)].append(r[k])

    def med(self, *key):
        v = self.s.get(key)
        return statistics.median(v) if v else None

    def cell(self, *key):
        v = self.s.get(key)
        if not v:
            return "-"
        if len(v) == 1:
            return si(v[0])
        return f"{si(statistics.median(v))} ({si(min(v))}-{si(max(v))})"

    def flat(self):
        for key, v in sorted(self.s.items(), key=lambda kv: [str(k) for k in kv[0]]):
            yield {"key": "/".join(str(k) for k in key), "median": statistics.median(v),
                   "min": min(v), "max": max(v), "n": len(v)}


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b not in (None, 0) else "-"


def plain_section(f, L, targets):
    """Issue 12: single records through plain clients, and the worker pool."""
    keys = sorted({k[1:4] for k in f.s if k[0] == "plain"})
    if keys:
        L.append("")
        L.append("### Plain clients (issue 12): single records, window W per client, records/s")
        L.append("")
        L.append("Every client sends W requests, then one per reply received. Round trip: send to "
                 "reply of each request, so it includes the wait behind the window (µs). Ratios: "
                 "the row's median / Redis's and the echo's at the same W. seglog "
                 "interval:1000, Redis appendfsync everysec.")
        for size, clients in sorted({(k[0], k[1]) for k in keys}):
            windows = sorted({k[2] for k in keys if k[0] == size and k[1] == clients})
            L.append("")
            L.append(f"#### {size} B, {clients} client{'s' if clients > 1 else ''}")
            L.append("")
            L.append("| client | W | records/s | round trip p50 | p99 | ÷Redis | ÷echo |")
            L.append("|---|---|---|---|---|---|---|")
            for sysname, name in PLAIN_SYSTEMS:
                for w in windows:
                    k = ("plain", size, clients, w, sysname)
                    v = f.med(*k, "rate")
                    if v is None:
                        continue
                    rd = f.med("plain", size, clients, w, "redis", "rate")
                    ec = f.med("plain", size, clients, w, "echo", "rate")
                    L.append(f"| {name} | {w} | {f.cell(*k, 'rate')} | {f.cell(*k, 'p50_us')} | "
                             f"{f.cell(*k, 'p99_us')} | {ratio(v, rd)} | {ratio(v, ec)} |")
                    if size == 100 and w == 64 and sysname == "plain":
                        targets.append((f"plain C, 100 B, {clients} client(s), W=64: >= 0.85x echo",
                                        v / ec if ec else None, 0.85))
                        targets.append((f"plain C, 100 B, {clients} client(s), W=64: >= 1.0x Redis",
                                        v / rd if rd else None, 1.0))
                    if size == 100 and w == 64 and sysname == "seglog":
                        need = 2.0 if clients >= 4 else 1.5
                        targets.append((f"project client, 100 B, {clients} client(s), W=64: "
                                        f">= {need}x Redis", v / rd if rd else None, need))
    wk = sorted({k[2:6] for k in f.s if k[0] == "workers"})
    if wk:
        L.append("")
        L.append("### Worker pool (issue 12): clients spread over topics (client i on topic i % T), "
                 "100 B single records, window 64, records/s")
        L.append("")
        L.append("| client | --produce-on | topics × clients | seglogd --workers 1 | --workers 2 "
                 "| 2 ÷ 1 |")
        L.append("|---|---|---|---|---|---|")
        for mode, topics, clients, sysname in wk:
            name = dict(PLAIN_SYSTEMS).get(sysname, sysname)
            w1 = f.med("workers", 1, mode, topics, clients, sysname, "rate")
            w2 = f.med("workers", 2, mode, topics, clients, sysname, "rate")
            L.append(f"| {name} | {mode} | {topics} × {clients} | "
                     f"{f.cell('workers', 1, mode, topics, clients, sysname, 'rate')} | "
                     f"{f.cell('workers', 2, mode, topics, clients, sysname, 'rate')} | "
                     f"{ratio(w2, w1)} |")


def main(out):
    rows = [json.loads(l) for l in open(f"{out}/results.jsonl") if l.strip()]
    f = Figures(rows)
    machine = open(f"{out}/machine.txt").read().strip()
    loads = [r["load1"] for r in rows if "load1" in r]
    L = []
    L.append("```")
    L.append(machine)
    if loads:
        L.append(f"1-minute load average during the workloads: median {statistics.median(loads):.2f},"
                 f" min {min(loads):.2f}, max {max(loads):.2f}")
    L.append("```")
    L.append("")
    L.append("Each cell: median of the runs (min-max). Ratios: seglog's median / the other's median "
             "(throughput: above 1 favours seglog; latency: below 1 favours seglog).")

    sizes = sorted({int(r["size"]) for r in rows if "size" in r and not r["workload"].startswith("cluster")})
    shapes = [(b, c) for b in (1, 100) for c in (1, 4)]

    def shape(b, c):
        return (f"{'single' if b == 1 else 'batch 100'}, {c} client{'s' if c > 1 else ''}")

    targets = []

    # -- produce --
    for dur in (0, 1):
        if not any(("produce", dur, s, b, c, "seglog", "rate") in f.s for s in sizes for b, c in shapes):
            continue
        L.append("")
        if dur == 0:
            L.append("### Produce, records/s (seglog interval:1000, Redis appendfsync everysec, "
                     "JetStream file store), window 64 requests per client")
            L.append("")
            L.append("| workload | seglog | Redis | JetStream | ÷Redis | ÷JetStream | ZeroMQ echo |"
                     " ÷echo | raw write() | ÷write |")
            L.append("|---|---|---|---|---|---|---|---|---|---|")
        else:
            L.append("### Produce, durable, records/s (seglog --sync always, Redis appendfsync always;"
                     " JetStream†: no per-write sync in nats-server 2.9.10, its only configuration)")
            L.append("")
            L.append("| workload | seglog | Redis | JetStream† | ÷Redis | ÷JetStream† | fdatasync/s |"
                     " seglog records per fdatasync |")
            L.append("|---|---|---|---|---|---|---|---|")
        sync = f.med("fdatasync", "rate")
        for s in sizes:
            for b, c in shapes:
                sl = f.med("produce", dur, s, b, c, "seglog", "rate")
                if sl is None:
                    continue
                rd = f.med("produce", dur, s, b, c, "redis", "rate")
                js = f.med("produce", 0, s, b, c, "jetstream", "rate")
                name = f"{s} B, {shape(b, c)}"
                jcell = f.cell("produce", 0, s, b, c, "jetstream", "rate")
                if dur == 0:
                    ec = f.med("echo", s, b, c, "rate")
                    wr = f.med("write", s, "rate")
                    L.append(f"| {name} | {f.cell('produce', 0, s, b, c, 'seglog', 'rate')} | "
                             f"{f.cell('produce', 0, s, b, c, 'redis', 'rate')} | {jcell} | "
                             f"{ratio(sl, rd)} | {ratio(sl, js)} | {f.cell('echo', s, b, c, 'rate')} | "
                             f"{ratio(sl, ec)} | {f.cell('write', s, 'rate')} | {ratio(sl, wr)} |")
                    if b == 1:
                        targets.append((f"produce {name}: >= 2x Redis", sl / rd if rd else None, 2.0))
                        targets.append((f"produce {name}: >= 4x JetStream", sl / js if js else None, 4.0))
                        targets.append((f"produce {name}: >= 0.7 of the echo", sl / ec if ec else None, 0.7))
                    if b == 100 and s == 100:
                        targets.append((f"produce {name}: >= 1.5M records/s", sl / 1.5e6, 1.0))
                else:
                    L.append(f"| {name} | {f.cell('produce', 1, s, b, c, 'seglog', 'rate')} | "
                             f"{f.cell('produce', 1, s, b, c, 'redis', 'rate')} | {jcell} | "
                             f"{ratio(sl, rd)} | {ratio(sl, js)} | {f.cell('fdatasync', 'rate')} | "
                             f"{ratio(sl, sync)} |")
                    if c == 4:
                        targets.append((f"durable produce {name}: >= 2x Redis always",
                                        sl / rd if rd else None, 2.0))
    if sizes and f.med("write", sizes[0], "mbps") is not None:
        L.append("")
        L.append("Raw write() of the same payload bytes, 1 MiB chunks, no sync: " + ", ".join(
            f"{s} B records: {f.cell('write', s, 'mbps')} MB/s" for s in sizes) +
            f". fdatasync loop (pwrite 108 B + fdatasync): {f.cell('fdatasync', 'rate')} syncs/s.")

    # -- consume --
    if any(("consume", s, "seglog", "rate") in f.s for s in sizes):
        L.append("")
        L.append("### Consume from offset 0, ranges of 1000, one client, records/s")
        L.append("")
        L.append("| size | seglog | Redis XRANGE | JetStream pull | ÷Redis | ÷JetStream | plain C |"
                 " plain C ÷Redis |")
        L.append("|---|---|---|---|---|---|---|---|")
        for s in sizes:
            sl, rd, js = (f.med("consume", s, k, "rate") for k, _ in SYSTEMS)
            pl = f.med("consume", s, "plain", "rate")
            L.append(f"| {s} B | " + " | ".join(f.cell("consume", s, k, "rate") for k, _ in SYSTEMS) +
                     f" | {ratio(sl, rd)} | {ratio(sl, js)} | {f.cell('consume', s, 'plain', 'rate')} |"
                     f" {ratio(pl, rd)} |")
            targets.append((f"consume {s} B: >= 2x Redis", sl / rd if sl and rd else None, 2.0))
            if pl is not None:
                targets.append((f"consume {s} B, plain C client: >= 2x Redis",
                                pl / rd if rd else None, 2.0))

    # -- latency --
    if any(("latency", s, "produce", "p50", "seglog") in f.s for s in sizes):
        L.append("")
        L.append("### Round trip of one request, one in flight, microseconds")
        L.append("")
        L.append("| request | seglog | Redis | JetStream | ZeroMQ echo | ÷Redis | ÷JetStream | ÷echo |"
                 " plain C | plain C ÷echo |")
        L.append("|---|---|---|---|---|---|---|---|---|---|")
        for s in sizes:
            for op in ("produce", "consume"):
                for p, pn in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
                    sl, rd, js = (f.med("latency", s, op, p, k) for k, _ in SYSTEMS)
                    ec = f.med("latency", s, "echo", p, "echo")
                    L.append(f"| {op} {s} B {pn} | " +
                             " | ".join(f.cell("latency", s, op, p, k) for k, _ in SYSTEMS) +
                             f" | {f.cell('latency', s, 'echo', p, 'echo')} | {ratio(sl, rd)} | "
                             f"{ratio(sl, js)} | {ratio(sl, ec)} | "
                             f"{f.cell('latency', s, op, p, 'plain')} | "
                             f"{ratio(f.med('latency', s, op, p, 'plain'), ec)} |")
                    pl = f.med("latency", s, op, p, "plain")
                    if op == "produce" and p == "p50" and ec and pl:
                        targets.append((f"plain C: produce {s} B p50 <= 1.5x the echo round trip",
                                        1.5 * ec / pl, 1.0))
                    if op == "produce" and p == "p50" and ec:
                        targets.append((f"produce {s} B p50 <= 1.5x the echo round trip",
                                        1.5 * ec / sl if sl else None, 1.0))
                    if op == "produce" and p == "p99" and rd:
                        targets.append((f"produce {s} B p99 <= Redis p99", rd / sl if sl else None, 1.0))

    # -- tail --
    if any(("tail", d, s, "seglog", "ack_rx_p50_us") in f.s for d in (0, 1) for s in sizes):
        L.append("")
        L.append("### Live tail at 10 000 records/s, microseconds (negative: received before the ack)")
        L.append("")
        L.append("| configuration | latency | seglog | Redis | JetStream |")
        L.append("|---|---|---|---|---|")
        for d in (0, 1):
            for s in sizes:
                conf = (f"{s} B, " + ("seglog always / Redis always / JetStream†" if d else
                                      "seglog interval:1000 / Redis everysec / JetStream"))
                for k, kn in (("ack_rx_p50_us", "ack→receipt p50"), ("ack_rx_p99_us", "ack→receipt p99"),
                              ("send_rx_p50_us", "send→receipt p50"), ("send_rx_p99_us", "send→receipt p99"),
                              ("rate_achieved", "records/s achieved")):
                    js_d = 0  # JetStream has one configuration
                    L.append(f"| {conf} | {kn} | {f.cell('tail', d, s, 'seglog', k)} | "
                             f"{f.cell('tail', d, s, 'redis', k)} | {f.cell('tail', js_d, s, 'jetstream', k)} |")
                p99 = f.med("tail", d, s, "seglog", "ack_rx_p99_us")
                if p99 is not None:
                    targets.append((f"tail {s} B ({'always' if d else 'interval:1000'}): ack→receipt p99 < 1 ms",
                                    1000.0 / p99 if p99 > 0 else float("inf"), 1.0))

    plain_section(f, L, targets)
    report_cluster.section(f, L, targets)

    # -- targets --
    if targets:
        L.append("")
        L.append("### Targets (one figure each: the medians above)")
        L.append("")
        L.append("| target | margin (1.00 or more: met) | verdict |")
        L.append("|---|---|---|")
        for name, val, need in targets:
            verdict = "-" if val is None else ("met" if val >= need else "**missed**")
            L.append(f"| {name} | {'-' if val is None else f'{val / need:.2f}'} | {verdict} |")
    table = "\n".join(L) + "\n"
    open(f"{out}/table.md", "w").write(table)
    sys.stdout.write(table)
    flat = list(f.flat())
    tg = [{"target": n, "value_over_required": (v / need if v is not None else None),
           "met": (v is not None and v >= need)} for n, v, need in targets]
    json.dump({"machine": machine, "figures": flat, "targets": tg, "samples": rows},
              open(f"{out}/results.json", "w"), indent=1)
    with open(f"{out}/results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["key", "median", "min", "max", "n"])
        w.writeheader()
        w.writerows(flat)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py OUTDIR")
    main(sys.argv[1])
