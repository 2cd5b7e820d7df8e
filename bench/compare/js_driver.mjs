// js_driver.mjs - the comparison workloads against a running nats-server
// with JetStream, through the official Node client nats.js v2 (npm "nats";
// Debian has no NATS C client). Installed into ./node_modules by run.sh.
//
//   node js_driver.mjs produce|consume|latency|tail --endpoint HOST:PORT [options as cmp_seglog]
//
// The stream "bench" (subject "bench", file storage, 1 replica) is created
// if missing. Each record is one message; its payload is the value.
// Publishing: nats.js v2 has no asynchronous JetStream publish, and its
//   js.publish (one request with a timer and a promise each) reached only
//   about 7 000/s with 64 in flight here, against about 38 000/s for the
//   same messages sent as below. So every publish here is what nats.go's
//   PublishAsync does: a core publish with a reply subject under one
//   wildcard inbox subscription; the PubAck that arrives there is parsed
//   and checked (an error or a wrong stream fails the run).
// produce: per client (a worker thread with its own connection), up to
//   --window requests in flight; a request is one publish (--batch 1)
//   or --batch async publishes issued at once whose acks are all awaited
//   (JetStream's batch: async publish).
// consume: loads --records (untimed), then reads them all from sequence 1
//   with a pull consumer (ack none), fetching --range messages at a time.
// latency: --records sequential publishes (one in flight), then a stream message
//   get by sequence of each ($JS.API.STREAM.MSG.GET).
// tail: a push consumer (ack none, deliver new; in a worker thread) receives while a paced
//   producer publishes --records at --rate per second (up to --window in
//   flight). Node timers tick at 1 ms, so the records due in a tick go
//   out together (10 per tick at 10 000/s).
// One JSON line on stdout; any error exits 1.
import os from "node:os";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import { connect, AckPolicy, DeliverPolicy, StorageType, consumerOpts, createInbox } from "nats";

const STREAM = "bench";
const WARM_BIT = 1n << 63n;

function die(msg) {
  process.stderr.write(`cmp: jetstream: ${msg}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const a = {
    mode: argv[0], endpoint: null, label: "", records: 1000000, size: 100, batch: 1,
    clients: 1, window: 64, range: 1000, rate: 10000, timeout_ms: 30000,
  };
  const num = { "--records": "records", "--size": "size", "--batch": "batch",
    "--clients": "clients", "--window": "window", "--range": "range", "--rate": "rate",
    "--timeout-ms": "timeout_ms" };
  for (let i = 1; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) die(`option ${k} without a value`);
    if (k === "--endpoint") a.endpoint = v;
    else if (k === "--label") a.label = v;
    else if (k === "--topic") { /* the stream is always "bench" */ }
    else if (num[k]) a[num[k]] = Number(v);
    else die(`unknown option ${k}`);
  }
  if (!a.mode || !a.endpoint) die("usage: js_driver.mjs MODE --endpoint HOST:PORT [...]");
  if (a.records % (a.batch * a.clients) !== 0) die("records must be a multiple of batch x clients");
  return a;
}

const nowNs = () => process.hrtime.bigint();

function value(size, index) {
  const b = new Uint8Array(size).fill(0x78); // 'x'
  new DataView(b.buffer).setBigUint64(0, BigInt(index), true);
  return b;
}

function indexOf(data) {
  if (data.length < 8) return -1n;
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(0, true);
}

function pct(sorted, p) {
  if (sorted.length === 0) return -1;
  const i = Math.max(0, Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1));
  return sorted[i];
}

function percentiles(samplesNs, keys) {
  const us = Float64Array.from(samplesNs, (x) => Number(x) / 1000).sort();
  const out = {};
  for (const [k, p] of keys) out[k] = pct(us, p);
  return out;
}

function emit(a, fields) {
  const o = { system: "jetstream", mode: a.mode, label: a.label, size: a.size, batch: a.batch,
    clients: a.clients, window: a.window, records: a.records, load1: os.loadavg()[0], ...fields };
  process.stdout.write(JSON.stringify(o) + "\n");
}

// Asynchronous JetStream publish (see the top): publish(data) returns a
// promise of the PubAck's sequence number.
class AsyncPublisher {
  constructor(nc, timeoutMs) {
    this.nc = nc;
    this.prefix = createInbox();
    this.pending = new Map();
    this.next = 0;
    this.timeoutMs = timeoutMs;
    this.failed = null;
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (err, m) => this.onAck(err, m) });
    this.timer = setInterval(() => this.checkTimeouts(), 1000);
  }

  publish(data) {
    const token = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(token, { resolve, reject, t: Date.now() });
      this.nc.publish(STREAM, data, { reply: `${this.prefix}.${token}` });
    });
  }

  onAck(err, m) {
    const token = Number(m.subject.slice(this.prefix.length + 1));
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    let ack = null;
    try {
      ack = JSON.parse(Buffer.from(m.data).toString());
    } catch { /* not JSON: below */ }
    if (err || !ack || ack.error || ack.stream !== STREAM || !(ack.seq > 0))
      p.reject(new Error(`bad PubAck: ${err ? err.message : Buffer.from(m.data).toString()}`));
    else p.resolve(ack.seq);
  }

  checkTimeouts() {
    const old = Date.now() - this.timeoutMs;
    for (const [token, p] of this.pending)
      if (p.t < old) {
        this.pending.delete(token);
        p.reject(new Error(`no PubAck within ${this.timeoutMs} ms`));
      }
  }

  close() {
    clearInterval(this.timer);
    this.sub.unsubscribe();
  }
}

async function open(a) {
  const nc = await connect({ servers: a.endpoint, timeout: a.timeout_ms, maxReconnectAttempts: 0 });
  const jsm = await nc.jetstreamManager({ timeout: a.timeout_ms });
  const js = nc.jetstream({ timeout: a.timeout_ms });
  const pub = new AsyncPublisher(nc, a.timeout_ms);
  await nc.flush(); // the ack subscription is in place
  return { nc, jsm, js, pub };
}

async function ensureStream(jsm) {
  try {
    await jsm.streams.info(STREAM);
  } catch {
    await jsm.streams.add({ name: STREAM, subjects: [STREAM], storage: StorageType.File,
      num_replicas: 1 });
  }
}

// Publish `count` records (indexes base..) keeping `window` requests of
// `batch` publishes in flight. Resolves when all are acknowledged.
function publishAll(pub, a, base, count, batch, window) {
  const reqs = count / batch;
  let sent = 0, done = 0;
  return new Promise((resolve, reject) => {
    const pump = () => {
      while (sent < reqs && sent - done < window) {
        const first = base + sent * batch;
        sent++;
        const acks = [];
        for (let i = 0; i < batch; i++)
          acks.push(pub.publish(value(a.size, first + i)));
        (batch === 1 ? acks[0] : Promise.all(acks)).then(() => {
          done++;
          if (done === reqs) resolve();
          else pump();
        }, reject);
      }
    };
    pump();
  });
}

async function produceWorker(a, id) {
  const { nc, pub } = await open(a);
  const per = a.records / a.clients;
  parentPort.postMessage("ready");
  await new Promise((r) => parentPort.once("message", r));
  await publishAll(pub, a, id * per, per, a.batch, a.window);
  pub.close();
  await nc.drain();
  parentPort.postMessage("done");
}

async function produce(a) {
  const { nc, jsm } = await open(a);
  await ensureStream(jsm);
  const file = fileURLToPath(import.meta.url);
  const workers = [];
  for (let i = 0; i < a.clients; i++)
    workers.push(new Worker(file, { workerData: { a, id: i } }));
  const waitAll = (what) => Promise.all(workers.map((w) => new Promise((res, rej) => {
    w.once("error", rej);
    w.once("exit", (code) => code && rej(new Error(`worker exited ${code}`)));
    w.once("message", (m) => (m === what ? res() : rej(new Error(`worker said ${m}`))));
  })));
  await waitAll("ready");
  const t0 = nowNs();
  const done = waitAll("done");
  for (const w of workers) w.postMessage("go");
  await done;
  const secs = Number(nowNs() - t0) / 1e9;
  const info = await jsm.streams.info(STREAM);
  if (info.state.messages !== a.records)
    die(`the stream holds ${info.state.messages} messages, expected ${a.records}`);
  await Promise.all(workers.map((w) => w.terminate()));
  await nc.close();
  emit(a, { seconds: secs, rate: a.records / secs });
}

async function consume(a) {
  const { nc, jsm, js, pub } = await open(a);
  await ensureStream(jsm);
  await publishAll(pub, a, 0, a.records, a.records % 100 === 0 ? 100 : 1, 16); // load, untimed
  await jsm.consumers.add(STREAM, { durable_name: "reader", ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All, max_batch: a.range });
  const c = await js.consumers.get(STREAM, "reader");
  let got = 0;
  const t0 = nowNs();
  while (got < a.records) {
    const iter = await c.fetch({ max_messages: a.range, expires: a.timeout_ms });
    let n = 0;
    for await (const m of iter) {
      if (m.seq !== got + 1 || m.data.length !== a.size || indexOf(m.data) !== BigInt(got))
        die(`wrong message at sequence ${got + 1}`);
      got++;
      n++;
    }
    if (n === 0) die(`an empty fetch at sequence ${got + 1}`);
  }
  const secs = Number(nowNs() - t0) / 1e9;
  await nc.close();
  emit(a, { seconds: secs, rate: a.records / secs });
}

async function latency(a) {
  const { nc, jsm, pub } = await open(a);
  await ensureStream(jsm);
  const n = a.records;
  const prod = new Array(n), cons = new Array(n);
  let first = 0;
  for (let i = 0; i < n; i++) {
    const v = value(a.size, i);
    const t0 = nowNs();
    const seq = await pub.publish(v);
    prod[i] = nowNs() - t0;
    if (i === 0) first = seq;
  }
  for (let i = 0; i < n; i++) {
    const t0 = nowNs();
    const m = await jsm.streams.getMessage(STREAM, { seq: first + i });
    cons[i] = nowNs() - t0;
    if (indexOf(m.data) !== BigInt(i)) die("message get returned the wrong record");
  }
  await nc.close();
  emit(a, {
    ...percentiles(prod, [["produce_p50_us", 0.5], ["produce_p99_us", 0.99], ["produce_p999_us", 0.999]]),
    ...percentiles(cons, [["consume_p50_us", 0.5], ["consume_p99_us", 0.99], ["consume_p999_us", 0.999]]),
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The push consumer runs in its own worker thread with its own connection
// (as the C drivers' subscribers run in their own threads), so the
// producer's event loop does not delay the receipt times. Receipt times go
// to shared memory; process.hrtime is one clock for all threads.
async function tailSubscriber(a, shared, flags) {
  const { nc, js } = await open(a);
  const n = a.records;
  const tRx = new BigInt64Array(shared);
  const opts = consumerOpts();
  opts.deliverTo(createInbox());
  opts.ackNone();
  opts.deliverNew();
  opts.callback((err, m) => {
    const now = nowNs();
    if (err) die(`push consumer: ${err.message}`);
    if (!m) return;
    const idx = indexOf(m.data);
    if (idx & WARM_BIT) { Atomics.add(flags, 0, 1); return; }
    const i = Number(idx);
    if (i >= n || tRx[i] !== 0n) die(`push consumer delivered index ${i} twice or out of range`);
    tRx[i] = now;
    if (Atomics.add(flags, 1, 1) + 1 === n) parentPort.postMessage("done");
  });
  await js.subscribe(STREAM, opts);
  await nc.flush();
  parentPort.postMessage("ready");
}

async function tail(a) {
  const { nc, jsm, pub } = await open(a);
  await ensureStream(jsm);
  const n = a.records;
  const shared = new SharedArrayBuffer(8 * n);
  const flags = new Int32Array(new SharedArrayBuffer(8)); // [warm, received]
  const tRx = new BigInt64Array(shared);
  const tAck = new Array(n).fill(0n), tSend = new Array(n).fill(0n);
  const worker = new Worker(fileURLToPath(import.meta.url),
    { workerData: { a, tail: true, shared, flags } });
  let subDone = false;
  await new Promise((res, rej) => {
    worker.once("error", rej);
    worker.once("exit", (code) => rej(new Error(`subscriber exited ${code}`)));
    worker.once("message", (m) => (m === "ready" ? res() : rej(new Error(`subscriber said ${m}`))));
  });
  worker.on("message", (m) => { if (m === "done") subDone = true; });
  let stopping = false;
  worker.on("exit", (code) => { if (!stopping) die(`the subscriber thread exited (${code})`); });
  const deadline = Date.now() + 10000;
  for (let w = 1n; Atomics.load(flags, 0) === 0; w++) {
    if (Date.now() > deadline) die("the push consumer received nothing within 10 s");
    await pub.publish(value(a.size, WARM_BIT | w));
    await sleep(10);
  }
  const gapNs = 1e9 / a.rate;
  const t0 = nowNs() + 1000000n;
  let sent = 0, acked = 0, failed = null;
  while (sent < n) {
    const due = t0 + BigInt(Math.round(sent * gapNs));
    const now = nowNs();
    if (now >= due && sent - acked < a.window) {
      const i = sent++;
      tSend[i] = nowNs();
      pub.publish(value(a.size, i)).then(
        () => { tAck[i] = nowNs(); acked++; }, (e) => { failed = e; });
      continue;
    }
    if (failed) die(`publish: ${failed.message}`);
    await sleep(now >= due ? 0 : Math.max(0, Math.floor(Number(due - now) / 1e6)));
  }
  const sendSecs = Number(nowNs() - t0) / 1e9;
  const until = Date.now() + 5000 + a.timeout_ms;
  while ((acked < n || !subDone) && Date.now() < until && !failed) await sleep(1);
  if (failed) die(`publish: ${failed.message}`);
  const ackRx = [], sendRx = [];
  for (let i = 0; i < n; i++) {
    if (!tRx[i] || !tAck[i]) die(`record ${i} was not ${tRx[i] ? "acknowledged" : "received"}`);
    ackRx.push(tRx[i] - tAck[i]);
    sendRx.push(tRx[i] - tSend[i]);
  }
  stopping = true;
  await worker.terminate();
  await nc.close();
  emit(a, {
    rate_achieved: n / sendSecs,
    ...percentiles(ackRx, [["ack_rx_p50_us", 0.5], ["ack_rx_p99_us", 0.99]]),
    ...percentiles(sendRx, [["send_rx_p50_us", 0.5], ["send_rx_p99_us", 0.99]]),
  });
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const modes = { produce, consume, latency, tail };
  if (!modes[a.mode]) die(`unknown mode ${a.mode}`);
  await modes[a.mode](a);
  process.exit(0);
}

if (isMainThread) {
  main().catch((e) => die(e && e.stack ? e.stack : String(e)));
} else if (workerData.tail) {
  tailSubscriber(workerData.a, workerData.shared, workerData.flags)
    .catch((e) => die(e && e.stack ? e.stack : String(e)));
} else {
  produceWorker(workerData.a, workerData.id).catch((e) => die(e && e.stack ? e.stack : String(e)));
}
