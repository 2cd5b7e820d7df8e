"""report_cluster.py - the cluster group's figures and table (issue 13), for
report.py: a 3-node seglog cluster (RF 3, acks=all), standalone seglog and
NATS JetStream R3 in the same run, the stalled-follower workload and the
failover soak. Standard library only."""

# label's first word -> the system of a "cluster" row
CLUSTER_SYSTEMS = [("seglog-cluster", "seglog 3 nodes, RF 3, acks=all"),
                   ("seglog", "seglog standalone"), ("jetstream-r3", "JetStream R3")]


def add(s, r):
    """Adds row r's samples into s (key tuple -> list); True if it was ours."""
    w = r["workload"]
    if w == "cluster":
        name = r["label"].split()[0]
        key = ("cluster", int(r["size"]), r["batch"], r["clients"], name)
        s[key + ("rate",)].append(r["rate"])
        if "rss_mib" in r:
            s[key + ("rss_max",)].append(max(r["rss_mib"]))
            lab = dict(kv.split("=", 1) for kv in r["label"].split()[1:])
            if "leader" in lab:
                s[key + ("rss_leader",)].append(r["rss_mib"][int(lab["leader"]) - 1])
        return True
    if w == "cluster-stall":
        s[("cluster-stall", "rate")].append(r["rate"])
        s[("cluster-stall", "rss_leader")].append(r["rss_mib"][0])
        s[("cluster-stall", "rss_follower")].append(r["rss_mib"][1])
        if "isr_during" in r:
            s[("cluster-stall", "isr_during")].append(r["isr_during"])
        return True
    if w == "cluster-failover":
        for k in ("min_ms", "median_ms", "max_ms", "zk_session_ms", "kills"):
            s[("cluster-failover", k)].append(r[k])
        return True
    return False


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b not in (None, 0) else "-"


def section(f, L, targets):
    keys = sorted({k[1:4] for k in f.s if k[0] == "cluster"})
    if not keys:
        return
    L.append("")
    L.append("### Cluster (issue 13): 3 seglogd on loopback with ZooKeeper, RF 3, acks=all, "
             "records/s")
    L.append("")
    L.append("Same run: a standalone seglogd, and JetStream R3 (three nats-server with cluster "
             "routes, a file-store stream with 3 replicas, the C client's async publish). seglog: "
             "the plain C client to the leader, window 256 requests per client for single "
             "records, 64 for batches of 100; interval:1000 on every node. JetStream publishes "
             "each record on its own (no batches): its column in a batch row is its batch-1 "
             "figure. RSS: the highest of the three nodes (the leader's in brackets), max of "
             "samples every 100 ms while the workload ran, MiB.")
    L.append("")
    L.append("| size | workload | cluster | standalone | JetStream R3 | cluster ÷ standalone "
             "| cluster ÷ JetStream | cluster RSS | JetStream RSS |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for size, batch, clients in keys:
        k = ("cluster", size, batch, clients)
        cl = f.med(*k, "seglog-cluster", "rate")
        sa = f.med(*k, "seglog", "rate")
        jk = ("cluster", size, 1, clients, "jetstream-r3")
        js = f.med(*jk, "rate")
        shape = f"{'single' if batch == 1 else 'batch 100'}, {clients} client{'s' if clients > 1 else ''}"
        rss = f.cell(*k, "seglog-cluster", "rss_max")
        if f.s.get(k + ("seglog-cluster", "rss_leader")):
            rss += f" ({f.cell(*k, 'seglog-cluster', 'rss_leader')})"
        L.append(f"| {size} B | {shape} | {f.cell(*k, 'seglog-cluster', 'rate')} | "
                 f"{f.cell(*k, 'seglog', 'rate')} | {f.cell(*jk, 'rate')} | {ratio(cl, sa)} | "
                 f"{ratio(cl, js)} | {rss} | {f.cell(*jk, 'rss_max')} |")
        targets.append((f"cluster {size} B {shape}: >= 3x JetStream R3",
                        cl / js if cl and js else None, 3.0))
        if batch == 100:
            targets.append((f"cluster {size} B {shape}: >= 0.5 of standalone",
                            cl / sa if cl and sa else None, 0.5))
    if f.s.get(("cluster-stall", "rate")):
        L.append("")
        isr = f.s.get(("cluster-stall", "isr_during"))
        L.append("One follower SIGSTOPped a moment after the start of a 100 B, batch 100, "
                 "4-client produce (--replica-lag-ms 2000) and SIGCONTed at its end: "
                 f"{f.cell('cluster-stall', 'rate')} records/s overall, leader RSS max "
                 f"{f.cell('cluster-stall', 'rss_leader')} MiB, the stopped follower's "
                 f"{f.cell('cluster-stall', 'rss_follower')} MiB"
                 + (f", ISR size at the end {f.cell('cluster-stall', 'isr_during')}" if isr else "")
                 + ".")
    if f.s.get(("cluster-failover", "median_ms")):
        med = f.med("cluster-failover", "median_ms")
        zk = f.med("cluster-failover", "zk_session_ms")
        L.append("")
        L.append(f"Failover (scripts/soak-failover.sh, {f.cell('cluster-failover', 'kills')} "
                 f"kills, --zk-session-ms {zk:.0f}): kill -9 of the leader to the first "
                 f"acknowledgement through the new leader, min "
                 f"{f.cell('cluster-failover', 'min_ms')}, median {f.cell('cluster-failover', 'median_ms')}, "
                 f"max {f.cell('cluster-failover', 'max_ms')} ms.")
        # ratio >= 1 when the median is under session + 1 s
        targets.append((f"failover median < zk session + 1 s ({zk + 1000:.0f} ms)",
                        (zk + 1000) / med if med else None, 1.0))
