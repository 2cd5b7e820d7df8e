#!/usr/bin/python3
"""pyzmq_driver.py - the simplest correct pipelined produce loop in Python.

    pyzmq_driver.py produce --endpoint EP --pb-dir DIR [--size B] [--clients N]
                    [--window W] [--records N] [--topic T] [--topics T] [--label S]
                    [--timeout-ms MS]

What a Python user writes with pyzmq and the protoc-generated seglog_pb2
(DIR holds seglog_pb2.py: <build>/python/seglog/v1): one DEALER, W Requests
sent, then one new Request per reply received (blocking recv with
RCVTIMEO). Each Request is one ProduceRequest of one record of --size
bytes (its first 8 bytes the record's index, as the C drivers). Every reply
is checked: a ProduceResponse with the next id, count 1, offsets
increasing; at the end the offsets of each topic form one contiguous range
with nothing twice. --clients N runs N processes (the GIL would serialise
threads), each its own context and socket; client i produces to --topic or,
with --topics T, to "<topic>-<i % T>". Prints one JSON line like the C
drivers (records/s, p50/p99 round trip in us); any error exits 1.
Run with /usr/bin/python3 (Debian's python3-zmq and python3-protobuf).
"""
import json
import multiprocessing
import struct
import sys
import time


def parse(argv):
    a = {"endpoint": None, "pb-dir": None, "size": 100, "clients": 1, "window": 64,
         "records": 1000000, "topic": "bench", "topics": 1, "label": "", "timeout-ms": 30000}
    if len(argv) < 2 or argv[1] != "produce":
        sys.exit(__doc__)
    it = iter(argv[2:])
    for k in it:
        name = k[2:] if k.startswith("--") else None
        if name not in a:
            sys.exit(f"pyzmq: unknown option {k}\n{__doc__}")
        v = next(it, None)
        if v is None:
            sys.exit(f"pyzmq: {k} without a value")
        a[name] = v if isinstance(a[name], str) or a[name] is None else int(v)
    if not a["endpoint"] or not a["pb-dir"]:
        sys.exit("pyzmq: --endpoint and --pb-dir are required")
    if (a["size"] < 8 or not 1 <= a["clients"] <= 16 or not 1 <= a["topics"] <= a["clients"]
            or not 1 <= a["window"] <= 1024 or a["records"] % a["clients"]):
        sys.exit("pyzmq: size >= 8, clients 1..16, topics 1..clients, window 1..1024,"
                 " records a multiple of clients")
    return a


def client(a, i, start, out):
    """One client process: returns (round trips in ns, first offsets) via out."""
    try:
        import zmq
        sys.path.insert(0, a["pb-dir"])
        import seglog_pb2 as pb

        topic = a["topic"] if a["topics"] == 1 else f"{a['topic']}-{i % a['topics']}"
        n = a["records"] // a["clients"]
        base = n * i
        pad = b"x" * (a["size"] - 8)
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.rcvtimeo = a["timeout-ms"]
        s.connect(a["endpoint"])
        req = pb.Request()
        rec = req.produce.records.add()
        req.produce.topic = topic
        rep = pb.Response()
        window = a["window"]
        t_send = [0] * window
        rtt = [0] * n
        offsets = [0] * n
        sent = got = 0
        start.wait()

        def send_one():
            nonlocal sent
            req.id = sent + 1
            rec.value = struct.pack("<Q", base + sent) + pad
            t_send[sent % window] = time.perf_counter_ns()
            s.send(req.SerializeToString())
            sent += 1

        while sent < n and sent < window:
            send_one()
        while got < n:
            try:
                frame = s.recv()
            except zmq.Again:
                raise SystemExit(f"pyzmq: no reply within {a['timeout-ms']} ms")
            rtt[got] = time.perf_counter_ns() - t_send[got % window]
            rep.ParseFromString(frame)
            body = rep.WhichOneof("body")
            if body == "error":
                raise SystemExit(f"pyzmq: error {rep.error.code}: {rep.error.message}")
            if body != "produce" or rep.id != got + 1 or rep.produce.count != 1:
                raise SystemExit(f"pyzmq: reply {rep.id} ({body}), expected {got + 1}")
            if got and rep.produce.offset <= offsets[got - 1]:
                raise SystemExit("pyzmq: offsets not in send order")
            offsets[got] = rep.produce.offset
            got += 1
            if sent < n:
                send_one()
        s.close()
        ctx.term()
        out.put((i, topic, rtt, offsets, None))
    except BaseException as e:  # report to the parent, which fails the run
        out.put((i, None, None, None, str(e) or repr(e)))


def pct_us(v, p):
    """Nearest rank, as cmp_pct_us."""
    k = max(0, min(len(v) - 1, int(p * len(v) + 0.999999) - 1))
    return v[k] / 1000.0


def main():
    a = parse(sys.argv)
    mp = multiprocessing.get_context("fork")
    start = mp.Barrier(a["clients"] + 1)
    out = mp.Queue()
    procs = [mp.Process(target=client, args=(a, i, start, out)) for i in range(a["clients"])]
    for p in procs:
        p.start()
    start.wait(timeout=30)
    t0 = time.perf_counter_ns()
    results = []
    t_end = t0
    for _ in procs:  # each client puts exactly one result when it is done
        results.append(out.get(timeout=600))
        t_end = time.perf_counter_ns()
    for p in procs:
        p.join()
    errs = [r[4] for r in results if r[4] is not None]
    if errs:
        sys.exit(errs[0] if errs[0].startswith("pyzmq:") else f"pyzmq: {errs[0]}")
    secs = (t_end - t0) / 1e9
    # Per topic, the offsets of its clients form one contiguous range, each once.
    by_topic = {}
    for _, topic, _, offsets, _ in results:
        by_topic.setdefault(topic, []).extend(offsets)
    for topic, offs in by_topic.items():
        if len(set(offs)) != len(offs) or max(offs) - min(offs) + 1 != len(offs):
            sys.exit(f"pyzmq: topic {topic}: offsets not one contiguous range")
    rtt = sorted(x for r in results for x in r[2])
    with open("/proc/loadavg") as f:
        load1 = float(f.read().split()[0])
    line = {"system": "pyzmq", "mode": "produce", "label": a["label"], "size": a["size"],
            "batch": 1, "clients": a["clients"], "topics": a["topics"], "window": a["window"],
            "records": a["records"], "load1": load1, "seconds": round(secs, 6),
            "rate": round(a["records"] / secs), "p50_us": round(pct_us(rtt, 0.50), 3),
            "p99_us": round(pct_us(rtt, 0.99), 3)}
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
