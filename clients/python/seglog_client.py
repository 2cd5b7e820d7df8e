"""seglog_client - a Python client for seglogd, on pyzmq and the generated seglog_pb2.

The wire contract is proto/seglog/v1/seglog.proto (docs/PROTOCOL.md is the
prose); this module mirrors the C library (include/seglog/client.h):

    c = Client("tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556")
    first = c.produce_batch("orders", [b"a", b"b"])
    for rec in c.tail("orders", "earliest", idle_timeout=1.0):
        print(rec.offset, rec.value)

With CURVE (docs/SECURITY.md), pass the server's public key and this
client's certificate (or set $SEGLOG_CURVE_SERVER_KEY, $SEGLOG_CURVE_CERT):

    c = Client(..., curve_server_key="server.key", curve_cert="alice.key_secret")

A refused handshake raises HandshakeError ("handshake failed: ...") as soon
as the socket monitor reports it.

Requests follow the zguide's Lazy Pirate, as the C library does (see
include/seglog/client.h, "Timeouts and retries"). A request is queued only on
a completed connection (ZMQ_IMMEDIATE) and waits up to timeout_ms for one;
if the first attempt finds none, nothing was sent and SeglogTimeout ("is
seglogd running at ...?") is raised at once. A sent request waits timeout_ms
for its reply; on a timeout the DEALER socket is closed (linger 0), a new one
connects and the request is resent, up to `retries` more times, then
SeglogTimeout is raised. Defaults: timeout_ms=2000, retries=2 (a server that
is not running is reported after 2 s). A call that ends without its reply
(a timeout, or an exception such as KeyboardInterrupt) closes the socket
(linger 0) before it returns, discarding what it still queued, and a request
only ever travels on the connection it was queued on, so no request ever
reaches a server started after it was sent; an attempt already written may
still be executed by a live but slow server, so a produce that timed out
has an unknown outcome (with idempotent=False, at-least-once for the
retries; idempotent produces are stored once).

Server errors raise ServerError, whose .code is the ErrorCode name without
its prefix (for example "OFFSET_TRUNCATED"). Before a produce the client
learns the server's limits (info(), asked once per socket and cached) and
raises LimitError without sending anything for a record above
max_record_bytes (.code "RECORD_TOO_LARGE"), more than max_batch_records
records ("BAD_REQUEST") or a request above max_message_bytes
("MESSAGE_TOO_LARGE"; the server would drop the connection). A server older
than the Info request is not checked.

A record's key is None when it has none (an empty key is the same thing on
the wire), as in the CLI's JSON.

tail() yields every record from a start offset on, in order and exactly
once, then waits for new ones; the algorithm is the C library's (subscribe
first, fetch the backlog over request/reply, switch to the PUB stream,
drop duplicates by offset, fetch any gap a record or a heartbeat reveals).

Cluster mode (docs/CLUSTER.md, "Clients"): endpoint may be a comma-separated
bootstrap list of cluster nodes ("tcp://a:5555,tcp://b:5555"). The client then
asks Metadata of the first node that answers, sends each produce to its
topic's leader, and on NOT_LEADER (going to Error.leader_endpoint first), on
a node that does not answer within timeout_ms, or on a topic without a
leader, refreshes the metadata and tries again, until timeout_ms x (1 +
retries) have passed (then SeglogTimeout). NOT_ENOUGH_REPLICAS is raised as
the ServerError it is. A produce resent after a failover is stored once
(idempotent produce, the default; with idempotent=False it may be stored
twice); an acknowledged offset never changes. Reads (consume,
offsets, ...) go to the client's node: a single endpoint is never left (so
a follower's endpoint reads that follower, up to its high watermark); with a
list, the next node is used when one does not answer. A single endpoint
behaves exactly as before until a node answers NOT_LEADER; from then on
produces follow the leader too. A Tail of a client with a list fails over
(as the C library's seglog_tail_t; docs/CLUSTER.md, "Clients"): it reads
one live replica of its topic with the PUB endpoint that node advertises
(pub_endpoint is not used), and when its node stops answering (a request
without an answer, or 3 s without a PUB message and then no answer to an
Offsets request) it reopens on another live replica and goes on at its
position; stats().failovers counts the moves. metadata() (also cluster()) returns the
nodes and, per topic, replicas, leader, epoch, ISR and HW. Every socket has
ZMQ_IMMEDIATE and is closed after an attempt without a reply, so the rule
above (nothing reaches a server started later) holds per connection.

Objects are not thread-safe: use one Client per thread. No global state:
each Client has its own zmq.Context unless one is passed in.

seglog_pb2 is generated at build time (build/python/seglog/v1); put that
directory on PYTHONPATH, or a directory holding the seglog/v1 package.
Runs on the system Python (/usr/bin/python3), which has python3-zmq and
python3-protobuf.
"""

import collections
import os
import time

import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

try:
    import seglog_pb2 as pb
except ImportError:  # the generated package layout: <dir>/seglog/v1/seglog_pb2.py
    from seglog.v1 import seglog_pb2 as pb

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_PUB_ENDPOINT = "tcp://127.0.0.1:5556"
DEFAULT_TOPIC = "default"

EARLIEST = "earliest"
LATEST = "latest"

Record = collections.namedtuple("Record", "offset timestamp_ms key value")
Batch = collections.namedtuple("Batch", "records next_offset lowest_offset end_offset")
Offsets = collections.namedtuple("Offsets", "lowest_offset next_offset committed_offset epoch")
ServerInfo = collections.namedtuple(
    "ServerInfo", "version max_record_bytes max_message_bytes max_batch_records max_batch_bytes "
    "max_consume_bytes max_in_flight sync segment_bytes")
TopicInfo = collections.namedtuple("TopicInfo", "name lowest_offset next_offset epoch")
NodeInfo = collections.namedtuple("NodeInfo", "id endpoint pub_endpoint alive curve_public_key",
                                  defaults=("",))
TopicMeta = collections.namedtuple(
    "TopicMeta", "name replicas leader leader_epoch isr high_watermark")
ClusterInfo = collections.namedtuple("ClusterInfo", "node_id nodes topics")
ACKS_DEFAULT, ACKS_LEADER, ACKS_ALL = 0, 1, 2
TailStats = collections.namedtuple(
    "TailStats", "delivered live fetches gaps hb_behind duplicates heartbeats epochs failovers")


class SeglogError(Exception):
    """Base of every error this module raises; .code names it."""

    code = "ERROR"

    def __init__(self, message, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self):
        return "%s: %s" % (self.code, self.message)


class ServerError(SeglogError):
    """An Error reply. .code is the ErrorCode name ("OFFSET_TRUNCATED"),
    .wire_code its number."""

    def __init__(self, wire_code, message, leader_endpoint=""):
        super().__init__(message, _error_name(wire_code))
        self.wire_code = wire_code
        self.leader_endpoint = leader_endpoint  # NOT_LEADER: the leader's endpoint, or ""


class SeglogTimeout(SeglogError):
    """No reply after every retry."""

    code = "TIMEOUT"


class HandshakeError(SeglogError):
    """The connection's security handshake failed (wrong or unknown CURVE
    key, CURVE on one side only). Raised as soon as the socket monitor
    reports it, within timeout_ms; the message starts "handshake failed:"."""

    code = "UNAUTHENTICATED"


def _read_cert(path):
    """(public, secret) Z85 bytes of a zcert certificate; path + "_secret"
    is read when it exists (it holds both keys). secret is None for a
    public certificate."""
    secret_path = path + "_secret"
    use = secret_path if os.path.exists(secret_path) else path
    try:
        public, secret = zmq.auth.load_certificate(use)
    except (OSError, ValueError) as e:
        raise ValueError("cannot read certificate %r: %s" % (path, e))
    if not public or len(public) != 40:
        raise ValueError("%r is not a CURVE certificate" % use)
    return public, secret


def curve_keys(server_key=None, cert=None):
    """The CURVE keys for a Client: server_key is the server's public key
    (40 Z85 characters) or its public certificate file, cert this client's
    certificate (NAME.key_secret from `seglog keygen`). Either defaults to
    $SEGLOG_CURVE_SERVER_KEY / $SEGLOG_CURVE_CERT. None when neither is
    set (plaintext); (server, public, secret) as bytes otherwise."""
    server_key = server_key or os.environ.get("SEGLOG_CURVE_SERVER_KEY") or None
    cert = cert or os.environ.get("SEGLOG_CURVE_CERT") or None
    if server_key is None and cert is None:
        return None
    if server_key is None or cert is None:
        raise ValueError("CURVE needs both the server's key and this client's certificate")
    if len(server_key) == 40 and not os.path.exists(server_key):
        server = server_key.encode() if isinstance(server_key, str) else server_key
    else:
        server = _read_cert(server_key)[0]
    public, secret = _read_cert(cert)
    if not secret:
        raise ValueError("%r has no secret key (give NAME.key_secret)" % cert)
    return server, public, secret


def _apply_curve(sock, curve):
    if curve:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve


_HANDSHAKE_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
                     | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
_MECHANISM_MISMATCH = 0x11000002  # ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH


class LimitError(SeglogError):
    """A produce refused by the client, before sending, because the server
    would refuse it: .code is "RECORD_TOO_LARGE", "BAD_REQUEST" or
    "MESSAGE_TOO_LARGE"; the message has the limit."""


class ProtocolError(SeglogError):
    """The server sent something this client cannot decode."""

    code = "PROTOCOL"


class EpochChanged(SeglogError):
    """The tailed log was reset. The Tail has moved to the new log's lowest
    offset (.position) and continues from there on the next call."""

    code = "EPOCH_CHANGED"

    def __init__(self, message, old_epoch, new_epoch, position):
        super().__init__(message)
        self.old_epoch = old_epoch
        self.new_epoch = new_epoch
        self.position = position


def _error_name(wire_code):
    """The ErrorCode's name, or UNKNOWN_<n> for a code this client predates."""
    try:
        return pb.ErrorCode.Name(wire_code)
    except ValueError:
        return "UNKNOWN_%d" % wire_code


def _topic(topic):
    return topic if topic else DEFAULT_TOPIC


def _record(r):
    return Record(r.offset, r.timestamp_ms, r.key if r.key else None, r.value)


class _Channel:
    """One DEALER socket with Lazy Pirate retries, ids echoed in replies."""

    def __init__(self, ctx, endpoint, timeout_ms, retries, curve=None):
        self.ctx = ctx
        self.curve = curve
        self.mon = None
        self._failed = None  # the last handshake event, when it was a failure
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.next_id = 1
        self.sock = None
        self.generation = 0  # sockets opened: a new one may reach a new server
        self._open()

    def _open(self):
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        _apply_curve(self.sock, self.curve)
        # Watch the handshakes: a refused one ends the wait for a
        # connection at once with HandshakeError instead of a timeout.
        self.mon = self.sock.get_monitor_socket(_HANDSHAKE_EVENTS)
        self._failed = None
        # Queue only on a completed connection: a request never travels to
        # a later connection (a restarted server) after its call gave up.
        self.sock.setsockopt(zmq.IMMEDIATE, 1)
        self.sock.connect(self.endpoint)
        self.generation += 1

    def _close_sock(self):
        if self.sock is not None:
            self.sock.disable_monitor()
            self.mon.close(linger=0)
            self.sock.close(linger=0)  # whatever is still queued dies with it
            self.sock = self.mon = None

    def reconnect(self):
        self._close_sock()
        self._open()

    def close(self):
        self._close_sock()

    def _handshake_error(self):
        event, value = self._failed
        e = self.endpoint
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            why = ("%s refused this client's key (ZAP status %d): is its public certificate "
                   "in the server's --clients-dir?" % (e, value))
        elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == _MECHANISM_MISMATCH:
            why = ("%s does not use CURVE (security mechanism mismatch)" % e if self.curve else
                   "%s requires CURVE (security mechanism mismatch): give the server's key and "
                   "a client certificate (docs/SECURITY.md)" % e)
        elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            why = "protocol error 0x%x with %s" % (value, e)
        elif self.curve:
            why = ("%s closed the connection during the CURVE handshake: does it use CURVE, "
                   "and is the server key its public key?" % e)
        else:
            why = ("%s closed the connection during the handshake: does it require CURVE? "
                   "(docs/SECURITY.md)" % e)
        return HandshakeError("handshake failed: " + why)

    def _read_events(self):
        while self.mon.poll(0):
            ev = recv_monitor_message(self.mon)
            ok = ev["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED
            self._failed = None if ok else (ev["event"], ev["value"])

    def wait_connection(self, timeout_ms):
        """True once the socket takes a message (a connection, IMMEDIATE),
        False after timeout_ms; HandshakeError if a handshake failed."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLOUT)
        poller.register(self.mon, zmq.POLLIN)
        while True:
            self._read_events()
            if self._failed:
                raise self._handshake_error()
            left = deadline - time.monotonic()
            ready = dict(poller.poll(max(0, int(left * 1000))))
            if ready.get(self.sock, 0) & zmq.POLLOUT:
                return True
            if left <= 0:
                self._read_events()
                if self._failed:
                    raise self._handshake_error()
                return False

    def _send(self, data):
        """Queue data on a connection, waiting up to timeout_ms for one.
        False if there was none."""
        if not self.wait_connection(self.timeout_ms):
            return False
        try:
            self.sock.send(data, zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def _await(self, req, kind, extra_ms=0):
        """The reply to req within timeout_ms (+ extra_ms: a long poll's
        wait), or None."""
        deadline = time.monotonic() + (self.timeout_ms + extra_ms) / 1000.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(max(1, int(left * 1000)), zmq.POLLIN):
                return None
            frames = self.sock.recv_multipart()
            if len(frames) != 1:
                continue  # not a reply of ours
            resp = pb.Response()
            try:
                resp.ParseFromString(frames[0])
            except Exception as e:  # protobuf's DecodeError
                raise ProtocolError("undecodable reply from %s: %s" % (self.endpoint, e))
            body = resp.WhichOneof("body")
            if body is None:
                raise ProtocolError("reply without a body from %s" % self.endpoint)
            undecodable = resp.id == 0 and body == "error"
            if resp.id != req.id and not undecodable:
                continue  # the reply to an earlier, abandoned request
            if body == "error":
                raise ServerError(resp.error.code, resp.error.message,
                                  resp.error.leader_endpoint)
            if body != kind:
                raise ProtocolError("%s reply to a %s request" % (body, kind))
            return getattr(resp, body)

    def once(self, data, req, kind, connect_ms, reply_ms):
        """One attempt of req (already serialized as data, its id set):
        the reply body; None when no connection came within connect_ms
        (nothing was sent); raise _NoReply when it was sent and no reply
        came within reply_ms (the socket is then replaced); ServerError."""
        if not self.wait_connection(connect_ms):
            return None
        try:
            self.sock.send(data, zmq.NOBLOCK)
        except zmq.Again:
            return None
        saved = self.timeout_ms
        self.timeout_ms = reply_ms
        replied = False
        try:
            body = self._await(req, kind)
            replied = body is not None
        except SeglogError:
            replied = True
            raise
        finally:
            self.timeout_ms = saved
            if not replied:
                self.reconnect()  # discard what it still queues
        if body is None:
            raise _NoReply("no reply from %s within %d ms" % (self.endpoint, reply_ms))
        return body

    def call(self, req, kind, extra_ms=0):
        """Send req (its id is set here) and return the reply's body of the
        given kind; raise ServerError, SeglogTimeout or ProtocolError.
        extra_ms: the reply may take that much longer (a long poll)."""
        req.id = self.next_id
        self.next_id += 1
        data = req.SerializeToString()
        sent = False
        attempts = 0
        replied = False
        try:
            for attempt in range(self.retries + 1):
                attempts = attempt + 1
                if self._send(data):
                    sent = True
                    try:
                        body = self._await(req, kind, extra_ms)
                    except SeglogError:
                        replied = True  # a reply came: nothing of ours is queued
                        raise
                    if body is not None:
                        replied = True
                        return body
                elif not sent:
                    break  # no connection, nothing sent: the server is not there
                if attempt < self.retries:
                    self.reconnect()  # Lazy Pirate: start over on a new socket
        finally:
            if not replied:
                self.reconnect()  # discard what this call still queued
        if not sent:
            raise SeglogTimeout("no connection to %s within %d ms: is seglogd running at %s?"
                                % (self.endpoint, self.timeout_ms, self.endpoint))
        raise SeglogTimeout("no reply from %s: %d attempt%s of %d ms each" % (
            self.endpoint, attempts, "s" if attempts > 1 else "", self.timeout_ms))


class _NoReply(Exception):
    pass


_CONNECT_WAIT_MS = 500  # cluster mode: a node not connected by then is taken as down
_TAIL_SILENCE_S = 3.0   # failover mode: a tail's node silent this long is asked, then left
_BACKOFF_MAX_MS = 500


class Client:
    """Request/reply calls to one seglogd, or to a cluster given a bootstrap
    list. close() (or a with block) frees it. acks (ACKS_DEFAULT,
    ACKS_LEADER, ACKS_ALL) is sent with every produce; the default is the
    server's (ACKS_ALL in cluster mode).

    Produces are idempotent by default (idempotent=False turns it off): the
    client asks the server for a producer id (InitProducerId) before its
    first produce and numbers its batches per topic, so a batch resent by a
    retry is appended once and answered with its original offsets. After a
    failed produce the next one asks for a new producer id (the fate of
    the failed batch on the server is unknown)."""

    def __init__(self, endpoint=DEFAULT_ENDPOINT, pub_endpoint=DEFAULT_PUB_ENDPOINT,
                 timeout_ms=2000, retries=2, context=None, acks=ACKS_DEFAULT,
                 idempotent=True,
                 curve_server_key=None, curve_cert=None):
        if timeout_ms <= 0 or retries < 0:
            raise ValueError("timeout_ms must be > 0 and retries >= 0")
        # CURVE (docs/SECURITY.md): see curve_keys(); None: plaintext.
        self.curve = curve_keys(curve_server_key, curve_cert)
        boot = [e.strip() for e in endpoint.split(",")]
        if not all(boot) or len(boot) > 16:
            raise ValueError("endpoint: one endpoint or a comma-separated list of up to 16")
        self._own_ctx = context is None
        self.ctx = context if context is not None else zmq.Context()
        self._boot = boot
        self.endpoint = boot[0]  # the client's node (reads, tails)
        self.pub_endpoint = pub_endpoint
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.acks = acks
        self._ch = _Channel(self.ctx, self.endpoint, timeout_ms, retries, self.curve)
        self._info = None  # (generation, ServerInfo or None for an old server)
        self._mode = None  # None: not known yet, "cluster" or "standalone"
        self._nodes = []   # NodeInfo of the last Metadata
        self._routes = {}  # topic -> leader endpoint, or None (no leader known)
        self._pool = {}    # endpoint -> _Channel (retries 0) for leaders and Metadata
        self._idempotent = idempotent
        self._pid = 0      # producer id (0: ask for one before the next produce)
        self._seqs = {}    # topic -> the next batch sequence of self._pid

    def close(self):
        """Close the client. With its own context this also closes any Tail
        still open on it (zmq.Context.destroy), so close() never hangs."""
        self._ch.close()
        for ch in self._pool.values():
            ch.close()
        self._pool = {}
        if self._own_ctx:
            self.ctx.destroy(linger=0)
            self._own_ctx = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def info(self):
        """The server's version and limits (a ServerInfo), asked once and
        cached; asked again after the socket was replaced (a failed call).
        None for a server older than the Info request (it answers
        BAD_REQUEST). If asking again times out, the cached value is kept."""
        if self._info is not None and self._info[0] == self._ch.generation:
            return self._info[1]
        req = pb.Request()
        req.info.SetInParent()
        try:
            i = self._call(req, "info")
            value = ServerInfo(i.version, i.max_record_bytes, i.max_message_bytes,
                               i.max_batch_records, i.max_batch_bytes, i.max_consume_bytes,
                               i.max_in_flight, i.sync, i.segment_bytes)
        except ServerError as e:
            if e.code != "BAD_REQUEST":
                raise
            value = None
        except SeglogTimeout:
            if self._info is None:
                raise
            value = self._info[1]
        self._info = (self._ch.generation, value)
        return value

    def _check(self, records, size):
        """Raise LimitError for what the server would refuse."""
        info = self.info()
        if info is None:
            return
        if info.max_batch_records and len(records) > info.max_batch_records:
            raise LimitError("a batch of %d records; the server at %s takes at most %d per "
                             "produce" % (len(records), self.endpoint, info.max_batch_records),
                             "BAD_REQUEST")
        for i, r in enumerate(records):
            n = len(r.key) + len(r.value)
            if info.max_record_bytes and n > info.max_record_bytes:
                raise LimitError("record %d of the batch is %d bytes (key + value); the server "
                                 "at %s takes at most %d (seglogd --max-record-bytes)"
                                 % (i, n, self.endpoint, info.max_record_bytes),
                                 "RECORD_TOO_LARGE")
        if info.max_message_bytes and size > info.max_message_bytes:
            raise LimitError("the request is %d bytes; the server at %s takes messages of at "
                             "most %d bytes" % (size, self.endpoint, info.max_message_bytes),
                             "MESSAGE_TOO_LARGE")

    # ---- cluster mode -------------------------------------------------

    def _call(self, req, kind, extra_ms=0):
        """A request to the client's node; with a list, the next node after
        one that does not answer (one attempt each), within the budget."""
        if len(self._boot) == 1:
            return self._ch.call(req, kind, extra_ms)
        deadline = time.monotonic() + self.timeout_ms * (1 + self.retries) / 1000.0
        while True:
            saved, self._ch.retries = self._ch.retries, 0
            try:
                return self._ch.call(req, kind, extra_ms)
            except SeglogTimeout:
                if time.monotonic() >= deadline:
                    raise
            finally:
                self._ch.retries = saved
            self._move_home()

    def _move_home(self):
        cand = list(self._boot)
        cand += [n.endpoint for n in self._nodes if n.alive and n.endpoint and n.endpoint not in cand]
        i = cand.index(self.endpoint) if self.endpoint in cand else -1
        self.endpoint = cand[(i + 1) % len(cand)]
        gen = self._ch.generation
        self._ch.close()
        self._ch = _Channel(self.ctx, self.endpoint, self.timeout_ms, self.retries,
                            self._curve_for(self.endpoint))
        self._ch.generation = gen + 1  # another server: ask its limits again

    def _curve_for(self, endpoint):
        """The CURVE keys for endpoint: the node's own server key when a
        Metadata answer (received over CURVE) gave one, else the one given."""
        if self.curve:
            for n in self._nodes:
                if n.endpoint == endpoint and len(n.curve_public_key) == 40:
                    return (n.curve_public_key.encode(),) + tuple(self.curve[1:])
        return self.curve

    def _key_known(self, endpoint):
        return not self.curve or self._curve_for(endpoint) is not self.curve

    def _conn(self, endpoint):
        ch = self._pool.get(endpoint)
        curve = self._curve_for(endpoint)
        if ch is not None and ch.curve != curve:
            self._pool.pop(endpoint).close()  # opened before Metadata gave the node's key
            ch = None
        if ch is None:
            if len(self._pool) >= 8:
                old = next(iter(self._pool))
                self._pool.pop(old).close()
            ch = self._pool[endpoint] = _Channel(self.ctx, endpoint, self.timeout_ms, 0, curve)
        return ch

    def _learn(self, m):
        info = ClusterInfo(m.node_id,
                           [NodeInfo(n.id, n.endpoint, n.pub_endpoint, n.alive,
                                     n.curve_public_key) for n in m.nodes],
                           [TopicMeta(t.name, list(t.replicas), t.leader, t.leader_epoch,
                                      list(t.isr), t.high_watermark) for t in m.topics])
        self._nodes = info.nodes
        eps = {n.id: n.endpoint for n in info.nodes if n.alive and n.endpoint}
        for t in info.topics:
            self._routes[t.name] = eps.get(t.leader) if t.leader >= 0 else None
        self._mode = "cluster"
        return info

    def _refresh(self, deadline, avoid=None):
        """Ask Metadata of the live nodes, then the bootstrap list (avoid
        last); the ClusterInfo if one answered, else False."""
        cand = []
        for ep in [n.endpoint for n in self._nodes if n.alive and n.endpoint] + self._boot:
            if ep not in cand and ep != avoid:
                cand.append(ep)
        if avoid:
            cand.append(avoid)
        for ep in cand:
            left = int((deadline - time.monotonic()) * 1000)
            if left <= 0:
                break
            req = pb.Request()
            req.metadata.SetInParent()
            ch = self._conn(ep)
            req.id = ch.next_id
            ch.next_id += 1
            try:
                m = ch.once(req.SerializeToString(), req, "metadata",
                            min(_CONNECT_WAIT_MS, left), min(self.timeout_ms, left))
            except _NoReply:
                continue
            except ServerError as e:
                if e.code == "BAD_REQUEST" and self._mode is None:
                    self._mode = "standalone"
                    return False
                continue
            if m is not None:
                return self._learn(m)
        return False

    def metadata(self):
        """The cluster as the client's node sees it: a ClusterInfo(node_id,
        nodes [NodeInfo(id, endpoint, pub_endpoint, alive, curve_public_key)], topics
        [TopicMeta(name, replicas, leader, leader_epoch, isr,
        high_watermark)]). A standalone server raises ServerError
        BAD_REQUEST. Also refreshes the client's routing."""
        req = pb.Request()
        req.metadata.SetInParent()
        return self._learn(self._call(req, "metadata"))

    cluster = metadata

    def _produce_cluster(self, req, deadline):
        """Send req to its topic's leader, following leader changes."""
        topic = req.produce.topic
        backoff = 0.05
        refreshed = False
        why = "no leader known"
        turn = 0
        while True:
            left = int((deadline - time.monotonic()) * 1000)
            if left <= 0:
                raise SeglogTimeout("produce to '%s' not acknowledged within %d ms: %s"
                                    % (topic, self.timeout_ms * (1 + self.retries), why))
            known = topic in self._routes
            ep = self._routes.get(topic)
            if ep is None and not refreshed:
                refreshed = True
                if self._refresh(deadline):
                    continue
            if ep is None and known:
                why = "topic '%s' has no leader (offline, or electing one)" % topic
                time.sleep(min(backoff, left / 1000.0))
                backoff = min(backoff * 2, _BACKOFF_MAX_MS / 1000.0)
                refreshed = False
                continue
            if ep is None:  # a new topic: any node creates it, and redirects
                alive = [n.endpoint for n in self._nodes if n.alive and n.endpoint]
                ep = alive[turn % len(alive)] if alive else self.endpoint
                turn += 1
            ch = self._conn(ep)
            req.id = ch.next_id
            ch.next_id += 1
            try:
                body = ch.once(req.SerializeToString(), req, "produce",
                               min(_CONNECT_WAIT_MS, left), min(self.timeout_ms, left))
                if body is not None:
                    return body
                why = "no connection to %s" % ep
            except _NoReply as e:
                why = str(e)
                body = None
            except ServerError as e:
                if e.code != "NOT_LEADER":
                    raise
                why = "%s answered NOT_LEADER: %s" % (ep, e.message)
                if e.leader_endpoint and e.leader_endpoint != ep:
                    self._routes[topic] = e.leader_endpoint
                    if not self._key_known(e.leader_endpoint):
                        self._refresh(deadline)  # the new node's CURVE key
                    continue
                self._routes[topic] = None
                time.sleep(min(backoff, left / 1000.0))
                backoff = min(backoff * 2, _BACKOFF_MAX_MS / 1000.0)
                refreshed = False
                continue
            # ep did not answer: forget it, ask where the leader is now.
            for t, e in list(self._routes.items()):
                if e == ep:
                    self._routes[t] = None
            if self._refresh(deadline, avoid=ep) and self._routes.get(topic) not in (None, ep):
                continue
            time.sleep(min(backoff, max(0, deadline - time.monotonic())))
            backoff = min(backoff * 2, _BACKOFF_MAX_MS / 1000.0)
            refreshed = False

    def produce(self, topic, value, key=None, timestamp_ms=0):
        """Append one record; returns its offset."""
        return self.produce_batch(topic, [(key, value, timestamp_ms)])

    def produce_batch(self, topic, records):
        """Append records atomically at contiguous offsets; returns the first
        offset. Each record is bytes (a value), or a tuple (key, value) or
        (key, value, timestamp_ms); a key of None or b"" is no key.
        LimitError if the server's limits rule it out (nothing is sent)."""
        req = pb.Request()
        req.produce.topic = _topic(topic)
        n = 0
        for r in records:
            rec = req.produce.records.add()
            if isinstance(r, (bytes, bytearray, memoryview)):
                rec.value = bytes(r)
            else:
                if r[0] is not None:
                    rec.key = bytes(r[0])
                rec.value = bytes(r[1])
                if len(r) > 2:
                    rec.timestamp_ms = r[2]
            n += 1
        if self.acks:
            req.produce.acks = self.acks
        data = req.SerializeToString()
        self._check(req.produce.records, len(data) + 12)  # + the id set in call()
        pid = self._producer_id()
        if pid:
            req.produce.producer_id = pid
            req.produce.sequence = self._seqs.get(req.produce.topic, 0)
            self._seqs[req.produce.topic] = req.produce.sequence + 1
        try:
            resp = self._produce_req(req)
        except Exception:
            if pid == self._pid:
                self._pid = 0  # the batch's fate is unknown: start a new producer
            raise
        if resp.count != n:
            raise ProtocolError("the server appended %d records of a batch of %d"
                                % (resp.count, n))
        return resp.offset

    def _producer_id(self):
        """The producer id for the next batch (0: idempotence is off, or
        the server is older than InitProducerId)."""
        if not self._idempotent:
            return 0
        if not self._pid:
            req = pb.Request()
            req.init_producer_id.SetInParent()
            try:
                self._pid = self._call(req, "init_producer_id").producer_id
            except ServerError as e:
                if e.code != "BAD_REQUEST":
                    raise
                self._idempotent = False  # an old server
                return 0
            self._seqs = {}
        return self._pid

    def _produce_req(self, req):
        """Send one ProduceRequest (resends keep its producer id and
        sequence) and return the ProduceResponse."""
        deadline = time.monotonic() + self.timeout_ms * (1 + self.retries) / 1000.0
        if self._mode is None and len(self._boot) > 1:
            if not self._refresh(deadline) and self._mode is None:
                raise SeglogTimeout("no node of %s answered a Metadata request"
                                    % ",".join(self._boot))
        if self._mode == "cluster":
            resp = self._produce_cluster(req, deadline)
        else:
            try:
                resp = self._call(req, "produce")
            except ServerError as e:
                if e.code != "NOT_LEADER":
                    raise
                # A cluster node: follow the leader from here on.
                self._mode = "cluster"
                hint = e.leader_endpoint or None
                if hint and not self._key_known(hint):
                    hint = None  # ask Metadata first: the leader's CURVE key
                self._routes[req.produce.topic] = hint
                resp = self._produce_cluster(req, deadline)
        return resp

    def commit_offset(self, group, topic, offset, metadata=""):
        """Store group's position in topic: the next offset it will read
        (metadata: free text, at most 256 bytes). Durable when it returns."""
        req = pb.Request()
        req.commit_offset.group = group
        req.commit_offset.topic = _topic(topic)
        req.commit_offset.offset = offset
        req.commit_offset.metadata = metadata
        self._call_group(req, "commit_offset")

    def fetch_offset(self, group, topic):
        """(offset, metadata) last committed by group for topic, or None if
        the group committed nothing for it. ServerError UNKNOWN_GROUP if the
        group never committed anything."""
        req = pb.Request()
        req.fetch_offset.group = group
        req.fetch_offset.topic = _topic(topic)
        r = self._call_group(req, "fetch_offset")
        return (r.offset, r.metadata) if r.found else None

    def _call_group(self, req, kind):
        """A group request (or a truncate): in cluster mode to the leader of
        the topic it changes (NOT_LEADER is followed, as for a produce)."""
        try:
            return self._call(req, kind)
        except ServerError as e:
            if e.code != "NOT_LEADER" or not e.leader_endpoint:
                raise
            return self._conn(e.leader_endpoint).call(req, kind)

    def consume_range(self, topic, offset, max_records=1, max_bytes=0, max_wait_ms=0):
        """Records from offset on (at most max_records, about max_bytes):
        a Batch(records, next_offset, lowest_offset, end_offset).
        max_wait_ms (long poll, 0..60000): at the end of the log, the server
        answers when records arrive or after max_wait_ms (an empty batch);
        the call then waits up to timeout_ms + max_wait_ms for the reply."""
        if not 0 <= max_wait_ms <= 60000:
            raise ValueError("max_wait_ms must be 0..60000")
        req = pb.Request()
        req.consume.topic = _topic(topic)
        req.consume.offset = offset
        req.consume.max_records = max_records
        req.consume.max_bytes = max_bytes
        req.consume.max_wait_ms = max_wait_ms
        resp = self._call(req, "consume", max_wait_ms)
        recs = [_record(r) for r in resp.records]
        for i, r in enumerate(recs):
            if r.offset != offset + i:
                raise ProtocolError("consume from %d returned offset %d at position %d"
                                    % (offset, r.offset, i))
        return Batch(recs, resp.next_offset, resp.lowest_offset, resp.end_offset)

    def consume(self, topic, offset, max_records=1, max_bytes=0, max_wait_ms=0):
        """The list of records from offset on (see consume_range)."""
        return self.consume_range(topic, offset, max_records, max_bytes, max_wait_ms).records

    def offsets(self, topic):
        req = pb.Request()
        req.offsets.topic = _topic(topic)
        r = self._call(req, "offsets")
        return Offsets(r.lowest_offset, r.next_offset, r.committed_offset, r.epoch)

    def offset_for_time(self, topic, timestamp_ms):
        """The first offset whose record's timestamp_ms is >= timestamp_ms
        (ms since the Unix epoch), or the visible end if none is (yet)."""
        req = pb.Request()
        req.offset_for_time.topic = _topic(topic)
        req.offset_for_time.timestamp_ms = timestamp_ms
        return self._call(req, "offset_for_time").offset

    def topic_config(self, topic, set=None):
        """Admin: change some of a topic's settings (set: a dict such as
        {"retention.ms": "86400000"}; a value "" goes back to the server
        default, "-1" is no limit), all or nothing, then return every
        setting: {key: (value or "", effective)}. Without set, only read."""
        req = pb.Request()
        req.topic_config.topic = _topic(topic)
        req.topic_config.SetInParent()
        for k, v in (set or {}).items():
            e = req.topic_config.set.add()
            e.key = k
            e.value = str(v)
        r = self._call(req, "topic_config")
        return {e.key: (e.value, e.effective) for e in r.entries}

    def truncate(self, topic, lowest):
        """Drop whole segments below lowest; returns the new lowest offset.
        In cluster mode the topic's leader truncates (NOT_LEADER is followed
        to it) and its followers follow within a fetch."""
        req = pb.Request()
        req.truncate.topic = _topic(topic)
        req.truncate.lowest_offset = lowest
        return self._call_group(req, "truncate").lowest_offset

    def list_topics(self):
        """Every topic the server holds, in name order: a list of TopicInfo."""
        req = pb.Request()
        req.list_topics.SetInParent()
        r = self._call(req, "list_topics")
        return [TopicInfo(t.name, t.lowest_offset, t.next_offset, t.epoch) for t in r.topics]

    def create_topic(self, topic, replicas=0):
        """Create topic (empty) before its first produce: (created, replicas).
        replicas: nodes that hold it in cluster mode (1..16; 0: the
        cluster's default); a standalone server holds 1. An existing topic
        gives created False and its replica count. Cluster mode: more
        replicas than live nodes raises ServerError NOT_ENOUGH_REPLICAS."""
        if not 0 <= replicas <= 16:
            raise ValueError("replicas must be 0..16")
        req = pb.Request()
        req.create_topic.topic = _topic(topic)
        req.create_topic.replicas = replicas
        r = self._call(req, "create_topic")
        return r.created, r.replicas

    def delete_topic(self, topic):
        """Admin: delete a topic and all its records, durably. The topic must
        be named (None or "" is a ValueError, not "default")."""
        if not topic:
            raise ValueError("delete_topic needs a topic name")
        req = pb.Request()
        req.delete_topic.topic = topic
        self._call(req, "delete_topic")

    def open_tail(self, topic, from_offset=EARLIEST, **options):
        """A Tail object (see Tail) for finer control than tail()."""
        return Tail(self, topic, from_offset, **options)

    def tail(self, topic, from_offset=EARLIEST, idle_timeout=None, **options):
        """Yield every record of topic from from_offset (a number, EARLIEST
        or LATEST) on, in order, exactly once, then new ones as they come.
        With idle_timeout (seconds) the generator ends after that long
        without a record; without, it waits for ever. EpochChanged and
        ServerError("OFFSET_TRUNCATED") end it with the exception."""
        t = Tail(self, topic, from_offset, **options)
        try:
            wait_ms = None if idle_timeout is None else int(idle_timeout * 1000)
            while True:
                rec = t.next(wait_ms)
                if rec is None:
                    return
                yield rec
        finally:
            t.close()


class Tail:
    """The reliable stream consumer (the zguide's Clone pattern).

    `next` is the offset of the next record to return; `known_end` an offset
    below which records are known to exist. next() returns the next record
    of the last fetched batch; else fetches over request/reply while
    next < known_end (each fetch's end_offset raises known_end, so a
    catch-up runs to the end of the log); else takes one PUB message:
    another topic (prefix match) is ignored, a record below next is a
    duplicate, at next is returned, above next is a gap (known_end =
    offset + 1); a heartbeat of another epoch means the log was reset
    (EpochChanged, position moves to the new lowest offset), one whose
    next_offset is above next means records were missed (known_end =
    next_offset).

    Failover mode (a client with a bootstrap list that reaches a cluster):
    the tail reads one live replica of its topic, each request one attempt;
    a request without an answer, or _TAIL_SILENCE_S without a PUB message
    and then no answer to an Offsets request, closes both sockets and
    reopens them on another live replica (Metadata: leader, ISR, the rest;
    the node it left last), which goes on at next by the same catch-up.
    Replicas serve only below their HW, at the same offsets, under the same
    epoch (the topic's ZooKeeper log_id), so nothing is returned twice or
    lost; a replica whose HW is below next is waited for."""

    def __init__(self, client, topic, from_offset=EARLIEST, start_at_lowest=False,
                 fetch_records=1000, fetch_bytes=0, sub_hwm=1000, wait_for_topic=False):
        if len(client._boot) == 1 and not client.pub_endpoint:
            raise ValueError("a tail needs the server's PUB endpoint")
        self.topic = _topic(topic)
        # With CURVE the topic frame is the name and a zero byte (the
        # server applies only such exact subscriptions; docs/SECURITY.md).
        self._topic_b = self.topic.encode() + (b"\0" if client.curve else b"")
        self.start_at_lowest = start_at_lowest
        self.fetch_records = fetch_records or 1000
        self.fetch_bytes = fetch_bytes
        self._client = client
        self._sub_hwm = sub_hwm if sub_hwm > 0 else 1000
        self._ch = self._sub = self._pub = None
        self._failover = False
        self._heard = time.monotonic()
        self._batch = []
        self._pos = 0
        self._pending = False
        self._stats = dict.fromkeys(TailStats._fields, 0)
        try:
            try:
                o = self._start()
            except ServerError as e:
                if e.code != "UNKNOWN_TOPIC" or not wait_for_topic:
                    raise
                # A topic born after the tail: all of it is new.
                self._pending = True
                self._from = EARLIEST if from_offset == LATEST else from_offset
                self.next_offset = self.known_end = self.epoch = 0
            else:
                self._resolve(from_offset, o)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self._sub is not None:
            self._sub.close(linger=0)
            self._sub = None
        if self._ch is not None:
            self._ch.close()
            self._ch = None

    # ---- which node the tail reads (failover mode: moving between replicas)

    def _open(self, endpoint, pub):
        """(Re)open on a node: both sockets closed (linger 0), a request
        channel to endpoint, and a SUB to pub, subscribed before any request
        (from then on every published record arrives or shows as a gap)."""
        self.close()
        c = self._client
        curve = c._ch.curve if endpoint == c.endpoint else c._curve_for(endpoint)
        self._ch = _Channel(c.ctx, endpoint, c.timeout_ms, 0 if self._failover else c.retries,
                            curve)
        self._sub = c.ctx.socket(zmq.SUB)
        self._sub.linger = 0
        self._sub.rcvhwm = self._sub_hwm
        _apply_curve(self._sub, curve)
        self._sub.setsockopt(zmq.SUBSCRIBE, self._topic_b)
        self._sub.connect(pub)
        self._pub = pub
        self._heard = time.monotonic()

    def _start(self):
        """Open on the first node; its Offsets reply (or ServerError)."""
        c = self._client
        if len(c._boot) > 1 and c._mode != "standalone":
            self._failover = True  # before any channel opens: one attempt per request
            deadline = time.monotonic() + c.timeout_ms * (1 + c.retries) / 1000.0
            o = self._find(c.endpoint, None, deadline)
            if o is not None:
                return o
            self._failover = False  # a standalone server: as with a single endpoint
            if not c.pub_endpoint:
                raise ValueError("a tail needs the server's PUB endpoint")
        self._open(c.endpoint, c.pub_endpoint)
        return self._offsets()

    def _offsets_once(self, deadline):
        """Offsets of the tail's node, one attempt (500 ms for a connection,
        timeout_ms for the reply): the reply, None without one; ServerError."""
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0 or self._ch is None:
            return None
        req = pb.Request()
        req.offsets.topic = self.topic
        req.id = self._ch.next_id
        self._ch.next_id += 1
        try:
            return self._ch.once(req.SerializeToString(), req, "offsets",
                                 min(_CONNECT_WAIT_MS, left), min(self._client.timeout_ms, left))
        except _NoReply:
            return None

    def _candidates(self, info, prefer, avoid):
        """(endpoint, pub) of the topic's live replicas: leader, ISR, the
        rest (every live node while the topic is not there), prefer first,
        avoid last."""
        nodes = {n.id: n for n in info.nodes}
        t = next((x for x in info.topics if x.name == self.topic), None)
        if t is None:
            ids = [n.id for n in info.nodes]
        else:
            ids = ([t.leader] if t.leader >= 0 else []) + list(t.isr) + list(t.replicas)
        out = []
        for i in ids:
            n = nodes.get(i)
            if n is not None and n.alive and n.endpoint and n.pub_endpoint and \
                    all(n.endpoint != e for e, _ in out):
                out.append((n.endpoint, n.pub_endpoint))
        out.sort(key=lambda c: 0 if c[0] == prefer else 2 if c[0] == avoid else 1)
        return out

    def _find(self, prefer, avoid, deadline):
        """Metadata, then each candidate in turn until one answers Offsets:
        that reply, the tail open on its node (ServerError from it is
        raised); None for a standalone server; SeglogTimeout at deadline."""
        c = self._client
        was = self._ch.endpoint if self._ch is not None else None
        backoff, tried = 0.05, []
        while True:
            info = c._refresh(deadline, avoid)
            if not info and c._mode == "standalone":
                return None
            if not info:
                raise SeglogTimeout("no cluster node answered a Metadata request")
            for ep, pub in self._candidates(info, prefer, avoid):
                if time.monotonic() >= deadline:
                    break
                if self._sub is None or self._ch.endpoint != ep or self._pub != pub:
                    self._open(ep, pub)
                moved = was is not None and ep != was
                try:
                    o = self._offsets_once(deadline)
                except ServerError:
                    self._stats["failovers"] += moved
                    raise
                if o is not None:
                    self._stats["failovers"] += moved
                    return o
                tried.append(ep)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(backoff, left))
            backoff = min(backoff * 2, _BACKOFF_MAX_MS / 1000.0)
        raise SeglogTimeout("no live replica of topic '%s' answered within %d ms (tried: %s)" %
                            (self.topic, c.timeout_ms * (1 + c.retries),
                             ", ".join(tried) or "none"))

    def _move(self, stay):
        """Failover mode: a node that did not answer (stay: one that was
        silent, asked first) is left for another live replica."""
        c = self._client
        deadline = time.monotonic() + c.timeout_ms * (1 + c.retries) / 1000.0
        cur = self._ch.endpoint if self._ch is not None else None
        try:
            o = None
            if stay and self._pending:  # is the topic there now, on other nodes than ours?
                try:
                    o = self._find(cur, None, deadline)
                except SeglogTimeout:
                    pass
            elif stay and self._sub is not None:
                o = self._offsets_once(deadline)  # silent: does it still answer?
            if o is None:
                o = self._find(None, cur, deadline)
        except ServerError as e:
            if e.code != "UNKNOWN_TOPIC":
                raise
            # The node is alive and the topic not there (yet, or deleted: a
            # new incarnation shows as another epoch): wait on its stream.
            self._heard = time.monotonic()
            return
        self._heard = time.monotonic()
        self._adopt(o)

    def _adopt(self, o):
        """Go on from a node's Offsets reply: a pending topic starts, another
        epoch is a reset, else known_end is that node's end (below next: a
        replica behind us, waited for on the stream)."""
        if self._pending:
            self._resolve(self._from, o)
            self._pending = False
            return
        if o.epoch != self.epoch:
            self._reset(o)
        self.known_end = o.next_offset

    def _offsets_or_move(self):
        """Offsets of the tail's node; in failover mode None after a move
        (the node did not answer)."""
        try:
            return self._offsets()
        except SeglogTimeout:
            if not self._failover:
                raise
            self._move(False)
            return None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        while True:
            yield self.next()

    @property
    def position(self):
        """The offset of the next record this tail returns."""
        return self.next_offset

    def stats(self):
        return TailStats(**self._stats)

    def _offsets(self):
        req = pb.Request()
        req.offsets.topic = self.topic
        return self._ch.call(req, "offsets")

    def _resolve(self, start, o):
        if start == EARLIEST:
            start = o.lowest_offset
        elif start == LATEST:
            start = o.next_offset
        elif not isinstance(start, int) or start < 0:
            raise ValueError("from_offset is an offset, EARLIEST or LATEST")
        if start < o.lowest_offset:
            if not self.start_at_lowest:
                raise ServerError(pb.ErrorCode.Value(_wire_name("OFFSET_TRUNCATED")),
                                  "offset %d of topic '%s' was truncated; the lowest is %d"
                                  % (start, self.topic, o.lowest_offset))
            start = o.lowest_offset
        if start > o.next_offset:
            raise ServerError(pb.ErrorCode.Value(_wire_name("OFFSET_OUT_OF_RANGE")),
                              "offset %d is past the end of topic '%s' (next offset %d)"
                              % (start, self.topic, o.next_offset))
        self.next_offset = start
        self.known_end = o.next_offset
        self.epoch = o.epoch

    def _epoch_changed(self):
        o = self._offsets_or_move()
        if o is None or o.epoch == self.epoch:
            return  # moved (and checked there), or not a reset after all
        self._reset(o)

    def _reset(self, o):
        old = self.epoch
        self._batch, self._pos = [], 0
        self._stats["epochs"] += 1
        self.epoch = o.epoch
        self.next_offset = o.lowest_offset
        self.known_end = o.next_offset
        raise EpochChanged("topic '%s' was reset (epoch %d, was %d); continuing at offset %d"
                           % (self.topic, o.epoch, old, o.lowest_offset),
                           old, o.epoch, o.lowest_offset)

    def _fetch(self):
        req = pb.Request()
        req.consume.topic = self.topic
        req.consume.offset = self.next_offset
        req.consume.max_records = self.fetch_records
        req.consume.max_bytes = self.fetch_bytes
        self._stats["fetches"] += 1
        try:
            r = self._ch.call(req, "consume")
        except SeglogTimeout:
            if not self._failover:
                raise
            self._move(False)
            return
        except ServerError as e:
            if e.code == "OFFSET_TRUNCATED":
                if self.start_at_lowest and not self._stats["delivered"] \
                        and not self._stats["epochs"]:
                    o = self._offsets_or_move()  # still at the start, which moved up
                    if o is None:
                        return
                    self.next_offset = max(self.next_offset, o.lowest_offset)
                    self.known_end = max(self.known_end, o.next_offset)
                    return
                raise ServerError(e.wire_code,
                                  "records of topic '%s' from offset %d on were truncated "
                                  "before the tail read them" % (self.topic, self.next_offset))
            if e.code == "OFFSET_OUT_OF_RANGE":
                # The log is shorter than our position: reset, or (failover
                # mode) a replica whose HW is behind the last one's.
                o = self._offsets_or_move()
                if o is None:
                    return
                if o.epoch != self.epoch:
                    self._reset(o)
                if self._failover:
                    self.known_end = o.next_offset
                    return
            raise
        recs = [_record(x) for x in r.records]
        for i, x in enumerate(recs):
            if x.offset != self.next_offset + i:
                raise ProtocolError("consume from %d returned offset %d at position %d"
                                    % (self.next_offset, x.offset, i))
        if not recs:
            self.known_end = self.next_offset  # the log ends here; PUB takes over
            return
        self._batch, self._pos = recs, 0
        self.known_end = max(self.known_end, r.end_offset)

    def _live(self, deadline):
        """One PUB message: a Record, None when the state may have changed,
        or raise _Idle at the deadline."""
        now = time.monotonic()
        wait = None if deadline is None else max(0, int((deadline - now) * 1000))
        silent = self._heard + _TAIL_SILENCE_S
        if self._failover:
            s = max(0, int((silent - now) * 1000))
            wait = s if wait is None else min(wait, s)
        if not self._sub.poll(wait, zmq.POLLIN):
            now = time.monotonic()
            if self._failover and now >= silent:
                self._move(True)  # a silent node: does it still answer?
                return None
            if deadline is None or now < deadline:
                return None
            raise _Idle()
        frames = self._sub.recv_multipart(zmq.NOBLOCK)
        self._heard = time.monotonic()
        if len(frames) != 2 or frames[0] != self._topic_b:
            return None  # another topic sharing our prefix, or not ours
        ev = pb.Event()
        try:
            ev.ParseFromString(frames[1])
        except Exception:
            return None  # undecodable: the next record or heartbeat shows the gap
        body = ev.WhichOneof("body")
        if body is None:
            return None
        if self._pending:
            o = self._offsets_or_move()
            if o is not None:
                self._adopt(o)
            return None
        if body == "heartbeat":
            self._stats["heartbeats"] += 1
            if ev.heartbeat.epoch != self.epoch:
                self._epoch_changed()
                return None
            if ev.heartbeat.next_offset > self.next_offset:
                self._stats["hb_behind"] += 1
                self.known_end = max(self.known_end, ev.heartbeat.next_offset)
            return None
        off = ev.record.offset
        if off < self.next_offset:
            self._stats["duplicates"] += 1
            return None
        if off > self.next_offset:
            self._stats["gaps"] += 1
            self.known_end = max(self.known_end, off + 1)
            return None
        self._stats["live"] += 1
        return _record(ev.record)

    def next(self, timeout_ms=None):
        """The next record, waiting up to timeout_ms for it (None: no limit);
        None if nothing came in time. Raises EpochChanged (then continues
        from the new log's start on the next call), ServerError with code
        OFFSET_TRUNCATED when unread records were truncated away, or a
        request error."""
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000.0
        while True:
            if self._pos < len(self._batch):
                rec = self._batch[self._pos]
                self._pos += 1
                if self._pos == len(self._batch):
                    self._batch, self._pos = [], 0
                self.next_offset = rec.offset + 1
                self._stats["delivered"] += 1
                return rec
            if self.next_offset < self.known_end:
                self._fetch()
                continue
            try:
                rec = self._live(deadline)
            except _Idle:
                return None
            if rec is not None:
                self.next_offset = rec.offset + 1
                self._stats["delivered"] += 1
                return rec


class _Idle(Exception):
    pass


def _wire_name(short):
    """The generated enum value name for an ErrorCode name."""
    if short in pb.ErrorCode.keys():
        return short
    raise KeyError(short)
