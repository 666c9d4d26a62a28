"""The session layer, acceptor side (SPEC.md "Session frames" and "Session
semantics"): channels, unary and streaming calls, notifications both
ways, calls to the host, flow control, deadlines, keepalive, GoAway, and
the reserved plexus.Link.Shutdown.

One thread, the session loop, owns the transport: it receives and checks
frames, keeps every window, and sends. Handlers (and whoever calls the
host) run on other threads and hand what they do to the loop as
operations in a queue, waking it through a private eventfd; the loop
hands received messages to them through per-channel queues.
"""

import heapq
import itertools
import os
import select
import struct
import threading
import time
from collections import deque

from . import desc as D
from . import frames, status
from .blob import BlobLimit, BlobSendError
from .errors import LinkError, PeerGone, ProtocolViolation
from .atomic import SEQ_CST
from .lease import HEAP as _HEAP, OPEN as _LEASE_OPEN, Lease, alloc as _lease_alloc
from .link import NO_RING, SENT, Frame, ShmLink, TooLarge
from .ring import SLOTS as _RING_SLOTS, U64 as _U64, WAITING as _RING_WAITING
from .service import NOTIFICATION, SHUTDOWN_ID, STREAMS, UNARY
from .workers import Workers

CHANNEL_WINDOW0 = 65536   # initial window per channel and direction
LINK_WINDOW0 = 1 << 20    # initial window per link and direction
MAX_GRANT = 1 << 31       # largest grant in one CREDIT (the spec allows 2^32 - 1)
MAX_CONTROL_QUEUE = 65536
MAX_QUEUED_NOTIFICATIONS = 1024
SEND_WAIT = 5.0           # seconds a frame waits for ring space or a slot
MAX_DEADLINE_NS = 1 << 62
TERM_GRACE = 0.5          # SIGTERM: wait this long for the link to end ...
DRAIN_TIME = 1.0          # ... then drain for at most this long
MAX_REASON = 1024
# Polling (DESIGN.md "Receiving on a polled transport"): after activity the
# loop looks at the ring and its operation queue for a budget before it
# parks: twice the recent time between calls, within these bounds.
SPIN_MIN = 20e-6
SPIN_MAX = 200e-6
# A unary handler run on the loop's own thread (nothing else waiting) for
# longer than this is taken over: the standby thread becomes the loop, and
# the method's later calls go to the workers.
TAKEOVER = 0.001
SLOW_FOR = 1.0            # seconds a method taken over is not run inline
STANDBY_DORMANT = 0.2     # the standby stops watching after this long without inline calls

# channel states
OPEN, HALF, CLOSING, CLOSED = "open", "half-closed", "closing", "closed"
PENDING = "pending"       # an own call whose OPEN is not sent yet

_local = threading.local()
_OPEN, _DATA, _PACKED = D.OPEN, D.DATA, D.PACKED
_ON_LINK = frozenset((D.NOTIFY, D.PING, D.PONG, D.GOAWAY))
_ON_CHANNEL = frozenset((D.OPEN, D.DATA, D.STATUS))
_make_lock = threading.Lock()  # makes a call's Condition or Event once

# The unary fast path (Session._fast): the plain OPEN it takes straight from
# the ring, and the STATUS it packs straight into the producer's.
_FL_INLINE = D.END | D.MSG | D.INLINE
_FL_SLOT = D.END | D.MSG | D.SLOT
_DESC = struct.Struct("<QBBHIQQIIII16s")          # as desc._S
_DESC_HEAD = struct.Struct("<QBBHIQQIIII")         # without the 16 inline bytes
_REPLY_INLINE = struct.Struct("<QBBHIQQI28s")      # 28s pads with zeros
_ST_OK_INLINE = D.END | D.MSG | D.INLINE
_ST_OK_EMPTY = D.END | D.MSG
_ST_OK_SLOT = D.END | D.MSG | D.SLOT
_ZERO16 = bytes(16)


def current_call():
    """The Call (or Notification) a handler runs for (None outside a
    handler)."""
    return getattr(_local, "call", None)


def lease(n):
    """A Lease of n bytes (plexus.lease.Lease): a writable memoryview buf
    in memory the host reads without a copy (a slot of this side's pool,
    or a memfd sent as a one-shot blob above the largest slot class), for
    a handler to fill in place and return (a stream: send). Made inside a
    call's handler, it is freed when the handler returns unless it was
    returned or sent; made elsewhere (a notification, another thread), it
    is the caller's to send or free()."""
    call = current_call()
    if isinstance(call, Call) and call._session is not None:
        s = call._session
    elif _host is not None:
        s, call = _host._s, None
    else:
        raise RuntimeError("plexus.lease outside a running plugin")
    got = _lease_alloc(s.link, n, call)
    if call is not None:
        if call._leases is None:
            call._leases = []
        call._leases.append(got)
    return got


def _lease_payload(result):
    """A lease returned or sent: taken by the loop (a slot or blob lease),
    or copied out and freed (a heap lease)."""
    result._take()
    if result.kind == _HEAP:
        b = bytes(result.buf)
        result._drop()
        return b
    return result


class _Rx:
    """A received frame whose messages a reader consumes: released, and
    its cost given back as channel credit, once its last message is."""

    __slots__ = ("frame", "cost", "left")

    def __init__(self, frame, cost, left):
        self.frame, self.cost, self.left = frame, cost, left


class _Chan:
    """What a call and a stream share, on either side: the received
    messages (queued by the loop, taken by a reader thread), the bytes
    queued to send, cancellation, and the loop's windows."""

    _cvl = None        # the Condition, made on first use (_cv)
    _evt = None        # the Event of wait_cancelled, made on first use
    # Immutable initial values, as class attributes (a call sets its own
    # when they change): a unary call is made for every request.
    code = 0
    message = ""
    details = b""
    _is_cancelled = False
    _eof = False          # no more messages will be queued
    _cur = None           # _Rx of the message last returned, released at the next recv
    _queued = 0           # cost of frames handed to the loop, not yet sent
    _sent_end = False
    _peer_ended = False   # loop-private, as the windows below
    _recv_pending = 0

    def __init__(self, session, channel, lazy=False):
        self._session = session
        self.channel = channel
        # A unary call's handler seldom waits on its call: its Condition and
        # Event (some microseconds each) are made when first needed.
        if not lazy:
            self._cvl = threading.Condition(threading.Lock())
        self._inq = deque()       # (view, _Rx)
        self._cancel_fns = []     # on_cancel callbacks not run yet
        # loop-private
        self._state = OPEN
        self._send_window = CHANNEL_WINDOW0
        self._recv_view = CHANNEL_WINDOW0

    @property
    def _cv(self):
        cv = self._cvl
        if cv is None:
            with _make_lock:
                cv = self._cvl
                if cv is None:
                    cv = self._cvl = threading.Condition(threading.Lock())
        return cv

    @property
    def cancelled(self):
        return self._is_cancelled

    def wait_cancelled(self, timeout=None):
        """Blocks until the call is cancelled or timeout passes; returns
        whether it was cancelled."""
        evt = self._evt
        if evt is None:
            with _make_lock:
                evt = self._evt
                if evt is None:
                    evt = self._evt = threading.Event()
        # _cancel_with sets the flag, then looks at _evt; this made _evt,
        # then looks at the flag: one of the two sees the other.
        if self._is_cancelled:
            evt.set()
            return True
        return evt.wait(timeout)

    def on_cancel(self, fn):
        """Runs fn() once when the call is cancelled, at once if it is
        already. fn runs on the thread that cancels the call (the session
        loop): it must be quick and must not block (set an Event, say)."""
        with self._cv:
            if not self._is_cancelled:
                self._cancel_fns.append(fn)
                return
        fn()

    def _cancel_with(self, code, message=""):
        if not self._is_cancelled:
            self.code = code
            self.message = message
            self._is_cancelled = True
            evt = self._evt
            if evt is not None:
                evt.set()
        with self._cv:
            fns, self._cancel_fns = self._cancel_fns, []
            self._cv.notify_all()
        for fn in fns:
            try:
                fn()
            except Exception:  # a callback's failure is its own
                pass

    def _wake(self):
        with self._cv:
            self._cv.notify_all()

    def _release_cur(self):
        """(cv held) Hands the frame of the message last returned back to
        the loop."""
        if self._cur is not None:
            rx, self._cur = self._cur, None
            self._session._post(("consumed", self, rx))

    def _take(self):
        """(cv held) The next queued message, or None."""
        if not self._inq:
            return None
        view, rx = self._inq.popleft()
        if rx is not None:
            rx.left -= 1
            if rx.left == 0:
                self._cur = rx
        return view

    def _send_msg(self, msg, end=False):
        s = self._session
        leased = None
        if msg is None:
            payload = b""
        elif isinstance(msg, bytes):
            payload = msg
        elif type(msg) is Lease:
            if msg.state != _LEASE_OPEN:
                raise status.Status(status.FAILED_PRECONDITION, "send of a lease that is %s" % msg.state)
            payload = leased = msg
        else:
            # Copied: a view (of a received message, say) may change or be
            # released before the loop sends it.
            payload = bytes(memoryview(msg).cast("B"))
        cost = len(payload) + 64
        with self._cv:
            # As a Go Send: a message is taken while the peer's window for
            # the channel, less what is queued ahead of it, is positive,
            # so that a sender is held by the window it was granted and
            # not by a local buffer (SPEC.md "Flow control").
            while True:
                self._check_send()
                if self._send_window - self._queued > 0:
                    break
                self._cv.wait(1.0)
            if leased is not None:
                payload = _lease_payload(leased)
            self._queued += cost
        s._post(("data", self, payload, msg is not None, end))

    def __iter__(self):
        while True:
            m = self.recv()
            if m is None:
                return
            yield m


class Call(_Chan):
    """One call the host made, as its handler sees it; for a streaming
    method it is also the handler's stream.

    service, method: names; channel: the channel ID; deadline: a
    time.monotonic() value, or None; metadata: the caller's metadata (str
    keys, bytes values). cancelled says whether the call was cancelled
    (RESET, deadline, link end); code is the status it was cancelled with.
    """

    def __init__(self, channel, method_id, service, method, deadline, metadata, session=None, kind=UNARY):
        super().__init__(session, channel, lazy=kind == UNARY)
        self.method_id = method_id
        self.service = service
        self.method = method
        self.deadline = deadline
        self.metadata = metadata
        self.kind = kind
        self._children = []       # own calls made from this handler

    _frame = None
    _leases = None            # leases made in the handler (plexus.lease)
    _trailer = None           # metadata sent with the final STATUS
    _done = False             # the handler returned

    def remaining(self):
        """Seconds left before the deadline (None without one)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def set_trailer(self, metadata):
        """Sets the trailer: metadata (str keys, bytes or str values) sent
        with the call's final STATUS, whatever its code (SPEC.md "Session
        frames"). Call it before the handler returns; a later call replaces
        it. Raises ValueError for metadata that cannot be encoded."""
        md = {k: (v.encode() if isinstance(v, str) else bytes(v)) for k, v in metadata.items()}
        self._trailer = frames.encode_metadata(md) if md else None

    def _cancel_with(self, code, message=""):
        super()._cancel_with(code, message)
        s = self._session
        for oc in list(self._children):
            if s is not None:
                s._post(("cancel", oc, status.CANCELED, "the handler that made the call was cancelled"))

    def _check_send(self):
        if self._is_cancelled:
            raise status.Status(self.code or status.CANCELED, self.message or "call cancelled")
        if self._done:
            raise status.Status(status.FAILED_PRECONDITION, "send after the handler returned")

    def send(self, msg):
        """Sends one message (bytes-like) to the caller. Blocks while the
        loop holds two channel windows of this call's messages (the host's
        window is respected by the loop). Raises plexus.Status once the
        call is cancelled."""
        if self.kind not in STREAMS:
            raise status.Status(status.FAILED_PRECONDITION, "send on a %s call" % self.kind)
        self._send_msg(msg)

    def recv(self, timeout=None):
        """The caller's next message: a read-only bytes-like view, valid
        until the next recv() or the handler's return; None once the caller
        has ended its side. Raises plexus.Status when the call is cancelled,
        TimeoutError after timeout seconds."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            self._release_cur()
            while True:
                if self._is_cancelled:
                    raise status.Status(self.code or status.CANCELED, self.message or "call cancelled")
                m = self._take()
                if m is not None:
                    return m
                if self._eof:
                    return None
                w = None if end is None else end - time.monotonic()
                if w is not None and w <= 0:
                    raise TimeoutError("no message within %.3f s" % timeout)
                self._cv.wait(w)


class Notification:
    """A notification from the host, as its handler sees it
    (current_call() inside the handler)."""

    cancelled = False
    code = 0
    deadline = None

    def __init__(self, method_id, service, method, metadata):
        self.method_id, self.service, self.method, self.metadata = method_id, service, method, metadata

    def wait_cancelled(self, timeout=None):
        return False

    def remaining(self):
        return None


class HostStream(_Chan):
    """A call this plugin makes to the host (HostConn.stream, invoke).

    send(msg), close_send(), recv() -> view or None at the end (raises
    plexus.Status for a failed call), close() to abandon it. After the end
    code, message, details and trailer say how it ended.
    """

    def __init__(self, session, method_id, deadline, metadata, parent=None):
        super().__init__(session, 0)
        self.method_id = method_id
        self.deadline = deadline
        self.metadata = metadata or {}
        self.trailer = {}
        self.response = None      # a unary STATUS's message (bytes)
        self._final = False       # the call ended (STATUS, RESET, deadline, link end)
        self._state = PENDING
        self._parent = parent

    def _check_send(self):
        if self._final:
            if self.code == status.OK:
                raise status.Status(status.FAILED_PRECONDITION, "send after the call ended")
            raise status.Status(self.code, self.message, self.details)
        if self._sent_end:
            raise status.Status(status.FAILED_PRECONDITION, "send after close_send")

    def send(self, msg):
        """Sends one message (bytes-like) to the host's handler."""
        self._send_msg(msg)

    def close_send(self):
        """Ends this side of the stream: DATA with END."""
        with self._cv:
            if self._sent_end or self._final:
                return
            self._sent_end = True
            self._queued += 64
        self._session._post(("data", self, b"", False, True))

    def recv(self, timeout=None):
        """The host's next message (a read-only view valid until the next
        recv() or close()), None when the call ended with OK; raises
        plexus.Status when it failed."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            self._release_cur()
            while True:
                m = self._take()
                if m is not None:
                    return m
                if self._final:
                    if self.code == status.OK:
                        return None
                    raise status.Status(self.code, self.message, self.details)
                w = None if end is None else end - time.monotonic()
                if w is not None and w <= 0:
                    raise TimeoutError("no message within %.3f s" % timeout)
                self._cv.wait(w)

    def wait(self):
        """Waits for the end of the call; returns its code."""
        with self._cv:
            while not self._final:
                self._cv.wait()
        return self.code

    def close(self):
        """Abandons the call (RESET CANCELED to the host, unless it ended)
        and releases the messages not read."""
        with self._cv:
            self._release_cur()
            final = self._final
        if not final:
            self._session._post(("cancel", self, status.CANCELED, "stream closed by the caller"))
        self._session._post(("drain", self))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _finish(self, code, message="", details=b""):
        """(loop) The call ended."""
        with self._cv:
            if self._final:
                return
            self._final = True
            self.code, self.message, self.details = code, message, details
            self._state = CLOSED
            self._eof = True
            self._cv.notify_all()
        if code != status.OK:
            self._is_cancelled = True
            evt = self._evt
            if evt is not None:
                evt.set()
        p = self._parent
        if p is not None:
            try:
                p._children.remove(self)
            except ValueError:
                pass


class HostConn:
    """This plugin's calls and notifications to its host (plexus.host()).
    Thread-safe; not for the session loop's own thread."""

    def __init__(self, session):
        self._s = session

    def _deadline(self, timeout):
        call = current_call()
        d = None if timeout is None else time.monotonic() + timeout
        if isinstance(call, Call) and call.deadline is not None:
            d = call.deadline if d is None else min(d, call.deadline)
        return d, (call if isinstance(call, Call) else None)

    def stream(self, method_id, first=None, close_send=False, timeout=None, metadata=None):
        """Opens a streaming call of the host's method method_id with first
        (bytes-like or None) in the OPEN; close_send ends this side at once
        (a server stream). Inside a handler the call inherits its deadline
        and is cancelled with it."""
        deadline, parent = self._deadline(timeout)
        oc = HostStream(self._s, method_id, deadline, metadata, parent)
        if parent is not None:
            parent._children.append(oc)
        payload = None if first is None else bytes(memoryview(first).cast("B"))
        oc._sent_end = close_send
        self._s._post(("open", oc, payload, close_send))
        return oc

    def invoke(self, method_id, request=b"", timeout=None, metadata=None):
        """Calls the host's unary method: returns the response (bytes) or
        raises plexus.Status."""
        oc = self.stream(method_id, request, True, timeout, metadata)
        oc.wait()
        with oc._cv:
            msgs = [bytes(m) for m, _ in oc._inq]
            for _, rx in oc._inq:
                if rx is not None:
                    rx.left = 0
        self._s._post(("drain", oc))
        if oc.code != status.OK:
            raise status.Status(oc.code, oc.message, oc.details)
        if oc.response is not None and not msgs:
            return oc.response
        if oc.response is None and len(msgs) == 1:
            return msgs[0]
        raise status.Status(status.INTERNAL, "unary call %#018x ended with %d response messages"
                            % (method_id, len(msgs) + (oc.response is not None)))

    def close(self):
        """Ends the link from this side at once, as a Go session's Close:
        nothing more is sent (no final STATUS for the calls in flight,
        which the host fails with PEER_DIED), the handlers still running
        are cancelled, and serve returns (exit status 0)."""
        self._s._post(("close",))

    def notify(self, method_id, message=b"", metadata=None):
        """Sends a notification (NOTIFY) to the host's method method_id."""
        payload = bytes(memoryview(message).cast("B"))
        md = frames.encode_metadata(metadata) if metadata else None
        self._s._post(("notify", method_id, payload, md))


_host = None


def host():
    """The HostConn of the running link (None before it is up)."""
    return _host


class End(Exception):
    """How the session ended: kind is "closed" (end of file after the
    host's Shutdown notice), "peer_died", "reset" (the host reset the
    link), "violation", "failed" or "drained"."""

    def __init__(self, kind, message, code=0):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code


class _Out:
    __slots__ = ("call", "desc", "payload", "on_sent", "cost_queued")

    def __init__(self, call, d, payload, on_sent=None, cost_queued=0):
        self.call, self.desc, self.payload, self.on_sent = call, d, payload, on_sent
        self.cost_queued = cost_queued  # what the sender counted in call._queued


class Session:
    def __init__(self, link, methods, limits, log, max_workers=64):
        """methods: {method ID: (service name, plexus.Method)} of the
        negotiated version; limits: the HELLO's (the plugin uses the
        host's windows)."""
        global _host
        self.link = link
        self.methods = methods
        self.log = log
        self.channel_window = limits.channel_window
        self.link_window = limits.link_window
        self.max_payload = limits.max_payload
        self.link_send = LINK_WINDOW0   # our send window of the link
        self.link_recv = LINK_WINDOW0   # our view of the host's
        self.link_pending = 0           # consumed, not yet given back
        self.link_withheld = 0          # link credit withheld for queued notifications
        self.highest_peer = 0           # highest channel the host opened
        self.next_own = 2               # the next channel this side would open
        self.calls = {}                 # channels the host opened, not closed
        self.own_calls = {}             # channels this side opened, not closed
        self.ctl_out = deque()          # cost-free frames: PONG, CREDIT, RESET, GOAWAY
        self.out = []                   # costed frames, in order
        self.ops = deque()              # from other threads: what to do on the loop
        self.deadlines = []
        self._seq = itertools.count()
        self.wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.workers = Workers(max_workers)
        self.note_worker = Workers(1, "plexus-notify")  # notifications run one at a time, in order
        self.notes_queued = 0
        self.closing = False            # the host's Shutdown notice arrived
        self.goaway_sent = None
        self.peer_goaway = None
        self.running = 0
        self.sigterm_at = None
        self.drain_until = None
        self.blocked = 0
        self.blocked_since = None
        self.ended = None
        self._parked = True             # the loop may park: _post writes the eventfd
        # Polling and inline handlers (run() on a link that has pending()).
        self._inline_ok = False         # unary handlers may run on the loop's thread
        self._inline_next = None        # (call, handler, request) to run after the batch
        self._inline_since = 0.0        # perf_counter when the inline handler started, 0 if none
        self._takeover = False          # the inline handler waits for the loop: take over now
        self._slow = {}                 # method -> until when its calls go to workers (taken over)
        self._spin_budget = 0.0         # seconds of polling after activity (0: park at once)
        self._active_at = 0.0           # perf_counter of the last activity
        self._last_open = 0.0
        self._gap_avg = 0.0
        self._loop_lock = threading.Lock()  # the right to run the loop (_step)
        self._standby_ready = False     # a thread waits to take the loop over
        self._standby_dormant = True    # ... without watching (wake it through _gate_fd)
        self._gate_fd = -1
        self._end_evt = threading.Event()
        self._fast_ok = False           # the unary fast path may run (_fast)
        self._fast_methods = {}         # method ID -> (service, Method): unary, implemented
        self.host = HostConn(self)
        _host = self.host

    # -- the loop ------------------------------------------------------------

    def start(self):
        """What the session sends first: the link window above the initial
        one, as a CREDIT on channel 0."""
        if self.link_window > LINK_WINDOW0:
            self._grant(0, self.link_window - LINK_WINDOW0)
        self._flush()

    def run(self):
        """Serves until the link ends; returns the End that says how.

        On a link that can be polled (it has pending()), the loop polls
        before it parks and runs unary handlers on its own thread when
        nothing else waits; two threads then share the loop (one runs it,
        the other stands by to take it over from a handler that takes
        long), and the calling thread only waits for the end."""
        if not hasattr(self.link, "pending"):
            self._loop_lock.acquire()
            self._drive(start=True)
            return self.ended
        self._inline_ok = True
        self._spin_budget = SPIN_MIN
        if isinstance(self.link, ShmLink):
            self._fast_ok = True
            self._fast_methods = {mid: e for mid, e in self.methods.items()
                                  if e[1].kind == UNARY and e[1].handler is not None and mid != SHUTDOWN_ID}
        self._gate_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._loop_lock.acquire()
        threads = [threading.Thread(target=self._thread, args=(loop,), daemon=True,
                                    name="plexus-loop" if loop else "plexus-standby") for loop in (True, False)]
        for t in threads:
            t.start()
        while not self._end_evt.wait(1.0):
            pass
        return self.ended

    def _thread(self, loop):
        """A thread of the loop: runs it while it holds the loop lock, stands
        by when it does not."""
        start = loop
        while self.ended is None:
            if loop:
                self._drive(start)
                start = loop = False
            else:
                loop = self._standby()

    def _drive(self, start=False):
        """Runs the loop (the loop lock held) until the link ends or this
        thread loses the loop while it ran a handler (it returns without
        the lock)."""
        try:
            if start:
                self.start()
            while True:
                if self._step() is False:
                    return
        except End as e:
            end = e
        except ProtocolViolation as e:
            self._violation(str(e))
            end = End("violation", str(e), status.PROTOCOL_VIOLATION)
        except PeerGone as e:
            end = End("peer_died", str(e), status.PEER_DIED)
        except BlobLimit as e:
            self.link.shutdown()
            end = End("failed", str(e), status.RESOURCE_EXHAUSTED)
        except LinkError as e:
            self.link.shutdown()
            end = End("failed", str(e), status.INTERNAL)
        except Exception as e:  # a bug of this side: end the link rather than hang
            self.log.error("session loop failed", error="%s: %s" % (type(e).__name__, e))
            self.link.shutdown()
            end = End("failed", "%s: %s" % (type(e).__name__, e), status.INTERNAL)
        self._ended(end)

    def _ended(self, end):
        self.ended = end
        code = end.code or status.LINK_CLOSED
        for call in list(self.calls.values()):
            call._cancel_with(code, end.message)
        for oc in list(self.own_calls.values()):
            oc._finish(code, end.message)
        for o in self.out:
            if isinstance(o.call, HostStream):
                o.call._finish(code, end.message)
        # Calls opened after the end find ended set (_post).
        while self.ops:
            self._fail_op(self.ops.popleft(), code, end.message)
        self._end_evt.set()
        self._wake_standby()
        return end

    # -- the standby and inline handlers ---------------------------------------

    def _wake_standby(self):
        if self._gate_fd >= 0:
            try:
                os.eventfd_write(self._gate_fd, 1)
            except OSError:
                pass

    def _standby(self):
        """Stands by while the loop runs: returns True with the loop lock
        held when it took the loop over (an inline handler ran longer than
        TAKEOVER, or waits for the loop), False when the link ended.

        It watches (a look every millisecond) while unary handlers run
        inline, and sleeps on its gate otherwise: the loop opens the gate
        when it starts an inline handler and finds the standby dormant."""
        p = select.poll()
        p.register(self._gate_fd, select.POLLIN)
        seen = time.perf_counter()
        self._standby_ready = True
        while self.ended is None:
            ev = p.poll(None if self._standby_dormant else 1)
            if ev:
                try:
                    os.eventfd_read(self._gate_fd)
                except BlockingIOError:
                    pass
            if self.ended is not None:
                break
            now = time.perf_counter()
            since = self._inline_since
            if since or self._takeover:
                seen = now
                if (self._takeover or now - since >= TAKEOVER) and self._loop_lock.acquire(False):
                    self._takeover = False
                    self._standby_ready = False
                    if self.ended is not None:
                        self._loop_lock.release()
                        return False
                    return True
            elif now - seen >= STANDBY_DORMANT and not self._standby_dormant:
                # Dormant, then a look at _inline_since (the loop sets it, then
                # looks at _standby_dormant): one of the two sees the other.
                self._standby_dormant = True
                if self._inline_since:
                    self._standby_dormant = False
        return False

    def _run_inline(self, call, handler, request):
        """Runs a unary handler on the loop's thread, the loop lock left
        free for the standby. Returns True if this thread still runs the
        loop afterwards (the call is completed), False if the standby took
        the loop over meanwhile (the outcome is posted to it)."""
        self._inline_since = time.perf_counter()
        self._loop_lock.release()
        if self._standby_dormant:
            self._standby_dormant = False
            self._wake_standby()
        _local.inline = True
        try:
            outcome = self._call_handler(call, handler, request)
        finally:
            _local.inline = False
        self._inline_since = 0.0
        if self._loop_lock.acquire(False):
            self._handler_done(call)
            self._complete(call, outcome)
            self._flush()
            self._active_at = time.perf_counter()
            return True
        # Its next calls (for a while: a stall may have been the machine's)
        # go to the workers.
        self._slow[call.method_id] = time.perf_counter() + SLOW_FOR
        self._handler_done(call)
        self._post(("done", call, outcome))
        return False

    # -- the unary fast path ---------------------------------------------------

    def _fast(self):
        """The common unary call, without Desc, Frame or _Out objects: one
        plain OPEN (END and MSG, payload inline or in a slot, no metadata,
        no deadline) of an implemented unary method, alone in the ring while
        nothing else waits, is taken straight from the ring memory, its
        handler run inline, and its OK STATUS packed straight into the
        producer ring and published. Returns None (nothing taken: the
        general path looks at the ring) or what _run_inline would.

        The checks are the general path's (_handle, check_shm_placement,
        the pool's resolve, _open, _charge_link): a descriptor of this shape
        that fails one fails the link the same way; anything of another
        shape is left to the general path, which checks it."""
        if (self.out or self.ctl_out or self.running or self.deadlines or self.blocked
                or not self._standby_ready or self.goaway_sent is not None
                or self.sigterm_at is not None or self._inline_next is not None):
            return None
        link = self.link
        rx = link.rx
        h = rx.head
        if not rx._published(h) or rx._published((h + 1) & _U64):
            return None  # none, or several (the general path)
        mm = link.mm
        p = rx.off + _RING_SLOTS + (h & (rx.cap - 1)) * 64
        # (The reserved field is where the ring stamps: it is the ring's,
        # not the descriptor's, and the general path reads it as zero.)
        ch, k, fl, _stamp, credit, mid, aux, ln, slot, gen, off = _DESC_HEAD.unpack_from(mm, p)
        if k != _OPEN or aux or not ch & 1 or (fl != _FL_INLINE and fl != _FL_SLOT):
            return None
        entry = self._fast_methods.get(mid)
        if entry is None or ch <= self.highest_peer:
            return None
        if self._slow and self._slow.get(mid, 0.0) > time.perf_counter():
            return None
        if ln > self.max_payload:
            raise ProtocolViolation("payload of %d bytes above the maximum %d" % (ln, self.max_payload))
        frame = None
        if fl == _FL_INLINE:
            if ln > D.INLINE_MAX:
                raise ProtocolViolation("inline payload of %d bytes (at most %d)" % (ln, D.INLINE_MAX))
            request = mm[p + 36:p + 36 + ln]  # a private copy, taken before the head moves
        else:
            if ln == 0:
                return None  # an empty slot payload: the general path frees it at once
            o = link.peer_pool.resolve(slot, gen, off, ln)
            if slot in link.held:
                raise ProtocolViolation("slot %d named again before this side released it" % slot)
        # Taken: the head moves on (one store), the waiting flag is looked at.
        h = (h + 1) & _U64
        rx.head = h
        rx._st8(rx._head_addr, h, SEQ_CST)
        if rx._ld4(rx._waiting_addr, SEQ_CST) == 1 and link.at.cas32(rx.off + _RING_WAITING, 1, 0):
            link.space_out.ring()
        if fl == _FL_SLOT:
            link.held.add(slot)
            request = link.view[o:o + ln].toreadonly()
            frame = Frame(None, request, link, slot, gen)
        # _open's state, as the general path leaves it.
        self.highest_peer = ch
        cost = ln + 64
        self._charge_link(cost)
        svc, m = entry
        call = Call(ch, mid, svc, m.name, None, {}, self, UNARY)
        call._send_window = CHANNEL_WINDOW0 + credit
        call._recv_view = CHANNEL_WINDOW0 - cost
        call._peer_ended = True
        call._eof = True
        call._state = HALF
        self.calls[ch] = call
        call._frame = frame
        self.running += 1
        t = time.perf_counter()
        gap, self._last_open = t - self._last_open, t
        if gap < SPIN_MAX:
            self._gap_avg += (gap - self._gap_avg) / 8
            self._spin_budget = min(SPIN_MAX, max(SPIN_MIN, 2 * self._gap_avg))
        if self.ctl_out:
            self._flush()  # a CREDIT the charge queued
        # _run_inline, with the fast reply.
        handler = m.handler
        self._inline_since = t
        self._loop_lock.release()
        if self._standby_dormant:
            self._standby_dormant = False
            self._wake_standby()
        _local.inline = True
        try:
            outcome = self._call_handler(call, handler, request)
        finally:
            _local.inline = False
        self._inline_since = 0.0
        if not self._loop_lock.acquire(False):
            self._slow[mid] = time.perf_counter() + SLOW_FOR
            self._handler_done(call)
            self._post(("done", call, outcome))
            return False
        self._handler_done(call)
        if not self._fast_reply(call, outcome):
            self._complete(call, outcome)
            self._flush()
        self._active_at = time.perf_counter()
        return True

    def _fast_reply(self, call, outcome):
        """Packs an OK STATUS with the response straight into the ring and
        publishes it, with _complete's, try_send's and _flush's accounting.
        False (nothing done) for anything else: the general path sends it."""
        if (outcome[0] != status.OK or call._trailer or call._state != HALF or self.out
                or self.ctl_out or self.blocked or self.link_send <= 0 or call._send_window <= 0):
            return False
        result = outcome[1]
        if type(result) is not bytes:
            if type(result) is Lease:
                return False  # named in place: the general path
            if result is None:
                result = b""
            else:
                try:
                    result = bytes(memoryview(result).cast("B"))
                except TypeError:
                    return False
        n = len(result)
        link = self.link
        if n > self.max_payload or n > link.max_payload:
            return False
        tx = link.tx
        if tx.known < 1 and tx.space() < 1:
            return False
        mm = link.mm
        if n <= D.INLINE_MAX:
            _REPLY_INLINE.pack_into(mm, tx.slot_offset(), call.channel, D.STATUS,
                                    _ST_OK_INLINE if n else _ST_OK_EMPTY, 0, 0, 0, 0, n, result)
        else:
            if n > link.largest_slot:
                return False  # a blob: the general path
            got = link.own_pool.alloc(n)
            if got is None:
                return False  # no slot: the general path waits for one
            slot, gen, off = got
            mm[off:off + n] = result
            _DESC.pack_into(mm, tx.slot_offset(), call.channel, D.STATUS, _ST_OK_SLOT, 0, 0, 0, 0,
                            n, slot, gen, 0, _ZERO16)
        tx.advance()
        cost = n + 64
        self.link_send -= cost
        call._send_window -= cost
        # _complete, then _sent.
        self.running -= 1
        frame, call._frame = call._frame, None
        call._state = CLOSED
        self.calls.pop(call.channel, None)
        # Published (its stamp), the host rung if it parked.
        if tx.publish():
            link.data_out.ring()
        if frame is not None:
            frame.release()  # the response was copied out
        self.blocked, self.blocked_since = 0, None
        return True

    def _spin(self, timeout):
        """Polls the ring and the operation queue for what is left of the
        budget after the last activity; True if something arrived. Only
        while no handler runs on another thread (which would wait for the
        interpreter lock while this one spins)."""
        budget = self._spin_budget
        if budget <= 0 or self.running:
            return False
        pc = time.perf_counter
        end = self._active_at + budget
        if timeout is not None:
            end = min(end, pc() + timeout)
        pending, ops = self.link.pending, self.ops
        while True:
            if ops or pending():
                return True
            if pc() >= end:
                return False

    def on_sigterm(self):
        """Called from a signal handler: remembers the time, wakes the loop."""
        if self.sigterm_at is None:
            self.sigterm_at = time.monotonic()
        self._wakeup()

    def _wakeup(self):
        try:
            os.eventfd_write(self.wake_fd, 1)
        except OSError:
            pass

    def _post(self, op):
        """From any thread: hands op to the loop."""
        if self.ended is not None:
            self._fail_op(op, self.ended.code or status.LINK_CLOSED, self.ended.message)
            return
        self.ops.append(op)
        if self._parked:
            # The loop looks at ops after it sets _parked and before it
            # parks: it sees op, or this sees _parked (the eventfd is
            # written only for a loop that parks or may park).
            self._wakeup()
        if self._inline_since and getattr(_local, "inline", False):
            # A handler run inline waits for the loop (a call to the host):
            # the standby takes the loop over now.
            self._takeover = True
            self._wake_standby()
        if self.ended is not None:
            # The loop ended while op was added: whoever sees it fails it.
            try:
                self.ops.remove(op)
            except ValueError:
                return
            self._fail_op(op, self.ended.code or status.LINK_CLOSED, self.ended.message)

    def _fail_op(self, op, code, message):
        if op[0] in ("open", "data", "cancel") and isinstance(op[1], HostStream):
            op[1]._finish(code, message)

    def _step(self):
        """One pass of the loop. Returns False when this thread ran a
        handler inline and the standby took the loop over meanwhile (the
        loop lock is no longer this thread's)."""
        ops = self.ops
        if self._fast_ok and not ops:
            r = self._fast()
            if r is not None:
                return r
        busy = False
        while ops:
            self._op(ops.popleft())
            busy = True
        frames_in = self.link.receive()
        if frames_in:
            busy = True
            for f in frames_in:
                if self._inline_next is not None:
                    # A frame waits behind the call: it gets a worker.
                    self._submit(*self._inline_next)
                    self._inline_next = None
                if not self._handle(f):
                    f.release()
        now = time.monotonic()
        if self.deadlines and self.deadlines[0][0] <= now:
            self._expire(now)
        nxt = self._inline_next
        if nxt is not None:
            self._inline_next = None
            if ops or not self._standby_ready or self.link.pending():
                self._submit(*nxt)
                nxt = None
        self._flush()
        if nxt is not None:
            return self._run_inline(*nxt)
        if busy:
            self._active_at = time.perf_counter()
            return True
        if self.link.gone:
            # Everything the host published before it went is handled.
            if self.closing:
                raise End("closed", "the host closed the link", status.LINK_CLOSED)
            raise End("peer_died", "the host closed the control socket without notice (it died?)", status.PEER_DIED)
        timeout = self._timeout(now)
        if timeout is not None and timeout <= 0:
            return True
        if self._spin_budget and self._spin(timeout):
            return True
        self._parked = True
        if self.ops:
            self._parked = False
            return True
        try:
            woke = self.link.wait(timeout, self.blocked, self.wake_fd)
        finally:
            self._parked = False
        if woke:
            try:
                os.eventfd_read(self.wake_fd)
            except BlockingIOError:
                pass

    def _timeout(self, now):
        t = None
        while self.deadlines and self.deadlines[0][2]._state in (CLOSING, CLOSED):
            heapq.heappop(self.deadlines)
        if self.deadlines:
            t = self.deadlines[0][0] - now
        if self.blocked:
            w = self.blocked_since + SEND_WAIT - now
            t = w if t is None else min(t, w)
        if self.sigterm_at is not None:
            if self.drain_until is None:
                if now - self.sigterm_at >= TERM_GRACE:
                    self._start_drain()
                    return 0
                w = self.sigterm_at + TERM_GRACE - now
            else:
                if self.running == 0 or now >= self.drain_until:
                    self._flush()
                    self.link.shutdown()
                    raise End("drained", "SIGTERM: the link was drained", status.LINK_CLOSED)
                w = min(self.drain_until - now, 0.05)
            t = w if t is None else min(t, w)
        return t

    def _start_drain(self):
        self.log.info("SIGTERM; draining the link")
        self.drain_until = time.monotonic() + DRAIN_TIME
        self.goaway_sent = self.highest_peer
        self._queue_ctl(D.Desc(kind=D.GOAWAY, aux=self.highest_peer), b"draining")

    # -- operations from other threads ------------------------------------------

    def _op(self, op):
        kind = op[0]
        if kind == "done":
            self._complete(op[1], op[2])
        elif kind == "consumed":
            chan, rx = op[1], op[2]
            rx.frame.release()
            self._consumed_channel(chan, rx.cost)
        elif kind == "data":
            _, chan, payload, msg, end = op
            self._queue_data(chan, payload, msg, end)
        elif kind == "open":
            _, oc, payload, end = op
            self._queue_open(oc, payload, end)
        elif kind == "cancel":
            _, oc, code, reason = op
            self._cancel_own(oc, code, reason)
        elif kind == "drain":
            self._drain(op[1])
        elif kind == "notify":
            _, mid, payload, md = op
            d = D.Desc(kind=D.NOTIFY, method=mid, flags=D.MSG)
            if md is not None:
                d.flags |= D.MD
                payload = md + payload
            self.out.append(_Out(None, d, payload))
        elif kind == "close":
            # Down first, and nothing is flushed after: a handler woken by
            # the cancellation that follows must not get a final status out
            # (as Go's session.Close). run() fails this side's calls,
            # those still waiting in self.out included.
            self.link.shutdown()
            raise End("closed", "the plugin closed the link", status.LINK_CLOSED)
        elif kind == "note_done":
            _, frame, debt = op
            frame.release()
            self.notes_queued -= 1
            if debt:
                self.link_withheld -= debt
                self._give_link(debt)

    def _drain(self, chan):
        """Releases the messages a reader will not take."""
        with chan._cv:
            items = list(chan._inq)
            chan._inq.clear()
            cur, chan._cur = chan._cur, None
        seen = set()
        for _, rx in items + ([(None, cur)] if cur is not None else []):
            if rx is not None and id(rx) not in seen:
                seen.add(id(rx))
                rx.frame.release()

    def _queue_data(self, chan, payload, msg, end):
        cost = len(payload) + 64
        ok = chan._state in (OPEN, HALF) if isinstance(chan, Call) else chan._state in (PENDING, OPEN)
        if not ok:
            if type(payload) is Lease:
                payload._drop()
            with chan._cv:
                chan._queued -= cost
                chan._cv.notify_all()
            return
        d = D.Desc(channel=chan.channel, kind=D.DATA, flags=(D.MSG if msg else 0) | (D.END if end else 0))
        self.out.append(_Out(chan, d, payload, cost_queued=cost))

    # -- receiving -------------------------------------------------------------

    def _handle(self, f):
        """Checks and dispatches one frame. Returns True if the frame is kept
        (its payload is in use), False to release it now."""
        d = f.desc
        k, fl = d.kind, d.flags
        if not 1 <= k <= 9:
            raise ProtocolViolation("frame kind %d" % k)
        if fl & _PACKED and not (k == _DATA and fl & D.MSG and not fl & D.MD):
            raise ProtocolViolation("PACKED on %s with flags %#x" % (D.KIND_NAMES[k], fl))
        if k in _ON_LINK:
            if d.channel != 0:
                raise ProtocolViolation("%s on channel %d, not 0" % (D.KIND_NAMES[k], d.channel))
        elif d.channel == 0 and k in _ON_CHANNEL:
            raise ProtocolViolation("%s on channel 0" % D.KIND_NAMES[k])
        if k == _OPEN:
            return self._open(f)
        if k == D.DATA:
            return self._data(f)
        if k == D.STATUS:
            self._status(f)
        elif k == D.RESET:
            self._reset(f)
        elif k == D.CREDIT:
            self._credit(f)
        elif k == D.NOTIFY:
            return self._notify(f)
        elif k == D.PING:
            self._queue_ctl(D.Desc(kind=D.PONG, aux=d.aux), b"")
        elif k == D.GOAWAY:
            self._goaway(f)
        # PONG: any frame shows the host alive; this side sends no PINGs.
        return False

    def _peer_channel(self, ch):
        """The open call on channel ch (not 0), None for a finished channel
        (its frames are ignored), or a violation for one never opened."""
        if ch & 1 == 0:  # this side's parity (the acceptor's: even)
            call = self.own_calls.get(ch)
            if call is not None:
                return call
            if ch < self.next_own:
                return None
            raise ProtocolViolation("frame for channel %d, which this side never opened" % ch)
        call = self.calls.get(ch)
        if call is not None:
            return call
        if ch <= self.highest_peer:
            return None
        raise ProtocolViolation("frame for channel %d, above the highest the host opened (%d)" % (ch, self.highest_peer))

    def _charge_link(self, cost, give=True):
        if self.link_recv <= 0:
            raise ProtocolViolation("costed frame while the host's link window is %d" % self.link_recv)
        self.link_recv -= cost
        # The link window is given back when the frame is dispatched.
        if give:
            self._give_link(cost)

    def _give_link(self, cost):
        self.link_pending += cost
        if self.link_pending >= self.link_window // 2 or (self.link_withheld and self.notes_queued == 0):
            self._grant(0, self.link_pending)
            self.link_pending = 0

    def _charge_channel(self, call, cost):
        if call._recv_view <= 0:
            raise ProtocolViolation("costed frame while the host's window of channel %d is %d" % (call.channel, call._recv_view))
        call._recv_view -= cost

    def _consumed_channel(self, call, cost):
        """Gives channel credit back for what the application consumed; none
        once the host has ended its side or the channel is over."""
        if call._peer_ended or call._state in (CLOSING, CLOSED) or cost <= 0:
            return
        if isinstance(call, Call) and call._done:
            return
        call._recv_pending += cost
        if call._recv_pending >= self.channel_window // 2:
            self._grant(call.channel, call._recv_pending)
            call._recv_view += call._recv_pending
            call._recv_pending = 0

    def _grant(self, ch, amount):
        if ch == 0:
            self.link_recv += amount
        while amount > 0:
            g = min(amount, MAX_GRANT)
            self._queue_ctl(D.Desc(channel=ch, kind=D.CREDIT, credit=g), b"")
            amount -= g

    def _open(self, f):
        d = f.desc
        ch = d.channel
        if ch & 1 == 0:
            raise ProtocolViolation("OPEN of channel %d, of this side's parity" % ch)
        if ch <= self.highest_peer:
            raise ProtocolViolation("OPEN of channel %d, not above the last the host opened (%d)" % (ch, self.highest_peer))
        self.highest_peer = ch
        cost = d.length + 64
        self._charge_link(cost)
        body = f.payload
        md = {}
        if d.flags & D.MD:
            md, n = frames.parse_metadata(body)
            body = body[n:]
        deadline = None
        if d.aux:
            deadline = time.monotonic() + min(d.aux, MAX_DEADLINE_NS) / 1e9
        entry = self.methods.get(d.method)
        svc, m = (entry[0], entry[1]) if entry else ("", None)
        call = Call(ch, d.method, svc, m.name if m else "", deadline, md, self, m.kind if m else UNARY)
        call._send_window = CHANNEL_WINDOW0 + d.credit
        call._recv_view = CHANNEL_WINDOW0 - cost
        call._peer_ended = bool(d.flags & D.END)
        call._eof = call._peer_ended
        call._state = HALF if call._peer_ended else OPEN
        if self.goaway_sent is not None and ch > self.goaway_sent:
            self._reset_call(call, status.UNAVAILABLE, "the plugin is going away")
            return False
        if d.method == SHUTDOWN_ID:
            call.service, call.method = "plexus.Link", "Shutdown"
            if not d.flags & D.MSG:
                self._queue_status(call, status.INVALID_ARGUMENT, "plexus.Link.Shutdown: call without a message")
            else:
                # Notice that the end of the link that follows is a close.
                self.closing = True
                self.log.debug("the host announced it closes the link")
                self._queue_status(call, status.OK, response=b"")
            return False
        if m is None:
            self._reset_call(call, status.UNIMPLEMENTED, self._unknown(d.method))
            return False
        if m.kind == NOTIFICATION:
            self._reset_call(call, status.UNIMPLEMENTED, "%s.%s is a notification, not a call" % (svc, m.name))
            return False
        stream = m.kind in STREAMS
        if not d.flags & D.MSG and not stream:
            self._queue_status(call, status.INVALID_ARGUMENT, "%s.%s: call without a message" % (svc, m.name))
            return False
        if m.handler is None:
            self._queue_status(call, status.UNIMPLEMENTED, "%s.%s is not implemented by this plugin" % (svc, m.name))
            return False
        self.calls[ch] = call
        if not call._peer_ended and self.channel_window > CHANNEL_WINDOW0:
            # The receive window above the initial one, for a channel the
            # host opened: a CREDIT on the channel.
            extra = self.channel_window - CHANNEL_WINDOW0
            call._recv_view += extra
            self._grant(ch, extra)
        call._frame = f
        if deadline is not None:
            heapq.heappush(self.deadlines, (deadline, next(self._seq), call))
        self.running += 1
        request = body if d.flags & D.MSG else None
        if self._inline_ok:
            t = time.perf_counter()
            gap, self._last_open = t - self._last_open, t
            if gap < SPIN_MAX:
                # Calls further apart leave the budget as it was.
                self._gap_avg += (gap - self._gap_avg) / 8
                self._spin_budget = min(SPIN_MAX, max(SPIN_MIN, 2 * self._gap_avg))
            if m.kind == UNARY and self._slow.get(d.method, 0.0) <= t:
                self._inline_next = (call, m.handler, request)
                return True
        self._submit(call, m.handler, request)
        return True

    def _submit(self, call, handler, request):
        self.workers.submit(self._run_handler, call, handler, request)

    def _unknown(self, mid):
        """The reason of an UNIMPLEMENTED for a method this side does not
        serve, in the Go session's words (SPEC.md "Calls"): "unknown
        service ..." or "unknown method ... of service ...", with what it
        serves instead."""
        half = mid >> 32
        svc = None
        names = set()
        for known, (s, m) in self.methods.items():
            if known >> 32 == half:
                svc = s
                names.add(m.name)
        if svc is not None:
            return "unknown method %#x of service %s (it has %s)" % (mid, svc, _shown(sorted(names)))
        services = sorted({s for s, _ in self.methods.values()})
        if not services:
            return "unknown service %#08x: this side serves no services" % half
        return "unknown service %#08x: this side serves %s" % (half, _shown(services))

    def _data(self, f):
        d = f.desc
        if not d.flags & (D.MSG | D.END):
            raise ProtocolViolation("DATA without MSG and without END on channel %d" % d.channel)
        call = self._peer_channel(d.channel)
        cost = d.length + 64
        if call is not None and call._peer_ended:
            raise ProtocolViolation("DATA on channel %d after its end" % d.channel)
        self._charge_link(cost)
        body = f.payload
        if d.flags & D.MD:
            _, n = frames.parse_metadata(body)  # parsed, then discarded
            body = body[n:]
        recs = frames.check_packed(body) if d.flags & D.PACKED else None
        if call is None or call._state in (CLOSING, CLOSED):
            return False
        self._charge_channel(call, cost)
        end = bool(d.flags & D.END)
        if end:
            call._peer_ended = True
            if call._state == OPEN and isinstance(call, Call):
                call._state = HALF
        kept = False
        if isinstance(call, Call) and (call.kind not in STREAMS or call._done):
            # A unary handler takes the OPEN's message only (the opener's
            # later DATA is never read): consumed now.
            self._consumed_channel(call, cost)
        elif d.flags & D.MSG:
            if recs is None:
                views = [body]
            else:
                views = [body[o:o + n] for o, n in recs]
            rx = _Rx(f, cost, len(views))
            with call._cv:
                for v in views:
                    call._inq.append((v, rx))
                if end:
                    call._eof = True
                call._cv.notify_all()
            kept = True
        else:
            self._consumed_channel(call, cost)
        if end and not kept:
            with call._cv:
                call._eof = True
                call._cv.notify_all()
        if end and isinstance(call, HostStream):
            # The host's side ended on DATA (a Go acceptor never does this):
            # the call is over once its messages are read.
            self.own_calls.pop(call.channel, None)
            call._finish(status.OK)
        return kept

    def _status(self, f):
        d = f.desc
        ch = d.channel
        call = self._peer_channel(ch)
        if call is not None and ch & 1:
            raise ProtocolViolation("STATUS on channel %d, which the host opened and which is still open" % ch)
        if call is not None and call._peer_ended:
            raise ProtocolViolation("STATUS on channel %d after its end" % ch)
        cost = d.length + 64
        self._charge_link(cost)
        body = f.payload
        md = {}
        if d.flags & D.MD:
            md, n = frames.parse_metadata(body)
            body = body[n:]
        code = d.aux & 0xFFFFFFFF
        msg, details = "", b""
        if code:
            msg, details = frames.parse_status_body(body)
        if call is None:
            return
        self._charge_channel(call, cost)
        call.trailer = md
        if code == 0 and d.flags & D.MSG:
            call.response = bytes(body)
        self.own_calls.pop(ch, None)
        call._finish(code, msg, details)

    def _reset(self, f):
        d = f.desc
        code = d.aux & 0xFFFFFFFF
        reason = bytes(f.payload).decode("utf-8", "replace")
        if d.channel == 0:
            raise End("reset", "peer reset the link: %s: %s" % (status.code_name(code), reason), status.PEER_DIED)
        call = self._peer_channel(d.channel)
        if call is None:
            return
        if isinstance(call, HostStream):
            self.own_calls.pop(d.channel, None)
            self._purge(call)
            call._finish(code, reason)
            return
        call._cancel_with(code, reason)
        call._state = CLOSED
        self.calls.pop(d.channel, None)
        self._purge(call)

    def _purge(self, call):
        """Drops the frames queued for a channel that is over."""
        if any(o.call is call for o in self.out):
            keep = []
            for o in self.out:
                if o.call is call:
                    if type(o.payload) is Lease:
                        o.payload._drop()
                    if o.on_sent is not None:
                        o.on_sent()
                    continue
                keep.append(o)
            self.out = keep
        with call._cv:
            call._queued = 0
            call._cv.notify_all()

    def _credit(self, f):
        d = f.desc
        if d.channel == 0:
            self.link_send += d.credit
            return
        call = self._peer_channel(d.channel)
        if call is not None:
            with call._cv:
                call._send_window += d.credit
                call._cv.notify_all()

    def _goaway(self, f):
        d = f.desc
        self.peer_goaway = d.aux if self.peer_goaway is None else min(self.peer_goaway, d.aux)
        self.log.debug("host sent GOAWAY", limit=d.aux, reason=bytes(f.payload).decode("utf-8", "replace"))
        for ch, oc in list(self.own_calls.items()):
            if ch > self.peer_goaway:
                self.own_calls.pop(ch, None)
                self._purge(oc)
                oc._finish(status.UNAVAILABLE, "the host is going away: the call was not started")

    def _notify(self, f):
        d = f.desc
        cost = d.length + 64
        withhold = self.notes_queued >= MAX_QUEUED_NOTIFICATIONS
        self._charge_link(cost, give=not withhold)
        body = f.payload
        md = {}
        if d.flags & D.MD:
            md, n = frames.parse_metadata(body)
            body = body[n:]
        entry = self.methods.get(d.method)
        if entry is None or entry[1].kind != NOTIFICATION or entry[1].handler is None:
            why = self._unknown(d.method) if entry is None else "%s.%s is %s" % (
                entry[0], entry[1].name, "not implemented" if entry[1].kind == NOTIFICATION else "a call, not a notification")
            self.log.debug("dropping notification", reason=why)
            if withhold:
                self._give_link(cost)
            return False
        svc, m = entry
        debt = cost if withhold else 0
        self.link_withheld += debt
        self.notes_queued += 1
        note = Notification(d.method, svc, m.name, md)
        self.note_worker.submit(self._run_note, note, m.handler, body if d.flags & D.MSG else b"", f, debt)
        return True

    def _run_note(self, note, handler, message, frame, debt):
        _local.call = note
        try:
            handler(message)
        except BaseException as e:  # a notification has no answer: log it
            self.log.warn("notification handler failed", method="%s.%s" % (note.service, note.method),
                          error="%s: %s" % (type(e).__name__, e))
        finally:
            _local.call = None
        self._post(("note_done", frame, debt))

    # -- handlers --------------------------------------------------------------

    def _run_handler(self, call, handler, request):
        """On a worker thread: runs the handler and queues its outcome."""
        outcome = self._call_handler(call, handler, request)
        self._handler_done(call)
        self._post(("done", call, outcome))

    def _handler_done(self, call):
        if call._cvl is None and call._cur is None:
            # Nobody made the call's Condition: nobody waits on it.
            call._done = True
            if call._cvl is None:
                return
        with call._cv:
            call._done = True
            call._release_cur()
            call._cv.notify_all()

    def _call_handler(self, call, handler, request):
        """Runs the handler; returns its outcome."""
        if call.cancelled:
            outcome = (call.code or status.CANCELED, "call cancelled before its handler ran", b"")
        else:
            _local.call = call
            try:
                if call.kind in STREAMS:
                    result = handler(request, call)
                    if type(result) is Lease:
                        result = _lease_payload(result)
                    elif result is not None:
                        result = bytes(memoryview(result).cast("B"))
                    outcome = (status.OK, result)
                else:
                    result = handler(request)
                    if type(result) is Lease:
                        result = _lease_payload(result)
                    outcome = (status.OK, result)
            except status.Status as st:
                outcome = (st.code, st.message, st.details)
            except Exception as e:  # an error of the handler: UNKNOWN with its text
                outcome = (status.UNKNOWN, "%s: %s" % (type(e).__name__, e), b"")
            except BaseException as e:  # SystemExit and the like: the handler's failure
                outcome = (status.INTERNAL, "handler raised %s" % type(e).__name__, b"")
            finally:
                _local.call = None
                if call._leases is not None:
                    # Leases neither returned nor sent go back.
                    for l in call._leases:
                        l.free()
                    call._leases = None
        return outcome

    def _complete(self, call, outcome):
        self.running -= 1
        frame, call._frame = call._frame, None
        if call.kind in STREAMS:
            self._drain(call)
        if call._state not in (OPEN, HALF):
            # Reset or timed out meanwhile: the answer goes nowhere.
            if outcome[0] == status.OK and type(outcome[1]) is Lease:
                outcome[1]._drop()
            if frame is not None:
                frame.release()
            return
        release = frame.release if frame is not None else None
        if outcome[0] == status.OK:
            result = outcome[1]
            if type(result) is Lease and call._trailer:
                # The trailer goes before the message: copied after it.
                b = bytes(result.buf)
                result._drop()
                result = b
            if call.kind in STREAMS:
                if result is not None:
                    d = D.Desc(channel=call.channel, kind=D.DATA, flags=D.MSG)
                    self.out.append(_Out(call, d, result))
                self._queue_status(call, status.OK, response=None)
                if release:
                    release()
                return
            if type(result) is Lease:
                # Named in place (its slot or its sealed memfd), no copy.
                self._queue_status(call, status.OK, response=result, on_sent=release)
                return
            try:
                payload = b"" if result is None else memoryview(result).cast("B")
            except TypeError:
                self._queue_status(call, status.INTERNAL, "%s.%s: handler returned %s, not bytes"
                                   % (call.service, call.method, type(result).__name__))
                if release:
                    release()
                return
            # The response may be a view of the request (an echo): the
            # request's slot is freed once the response is copied out.
            self._queue_status(call, status.OK, response=payload, on_sent=release)
            return
        code, message, details = outcome
        self._queue_status(call, code, message, details)
        if release:
            release()

    def _expire(self, now):
        while self.deadlines and self.deadlines[0][0] <= now:
            _, _, call = heapq.heappop(self.deadlines)
            if isinstance(call, HostStream):
                if call._state == OPEN:
                    self._cancel_own(call, status.DEADLINE_EXCEEDED, "deadline exceeded")
                continue
            if call._state in (OPEN, HALF):
                call._cancel_with(status.DEADLINE_EXCEEDED, "deadline exceeded")
                self._purge(call)
                self._queue_status(call, status.DEADLINE_EXCEEDED, "deadline exceeded")

    # -- this side's calls -------------------------------------------------------

    def _queue_open(self, oc, payload, end):
        if oc._final:
            return
        if self.peer_goaway is not None or self.goaway_sent is not None:
            oc._finish(status.UNAVAILABLE, "the link is going away: the call was not sent")
            return
        d = D.Desc(kind=D.OPEN, method=oc.method_id)
        if payload is not None:
            d.flags |= D.MSG
        if end:
            d.flags |= D.END
        body = payload if payload is not None else b""
        if len(body) > self.max_payload - 16384:
            oc._finish(status.RESOURCE_EXHAUSTED, "request of %d bytes above the link's maximum payload" % len(body))
            return
        if oc.metadata:
            try:
                md = frames.encode_metadata(oc.metadata)
            except ValueError as e:
                oc._finish(status.INVALID_ARGUMENT, str(e))
                return
            d.flags |= D.MD
            body = md + body
        extra = self.channel_window - CHANNEL_WINDOW0
        d.credit = extra
        oc._recv_view = CHANNEL_WINDOW0 + extra
        self.out.append(_Out(oc, d, body))

    def _prepare_open(self, o, now):
        """Just before an OPEN is sent: its channel ID and its remaining
        time. False if the call is over (its deadline passed)."""
        oc = o.call
        if oc._final:
            return False
        if oc.deadline is not None:
            left = oc.deadline - now
            if left <= 0:
                oc._finish(status.DEADLINE_EXCEEDED, "deadline exceeded before the call was sent")
                self._purge(oc)
                return False
            o.desc.aux = max(1, int(left * 1e9))
        ch = self.next_own
        self.next_own += 2
        oc.channel = ch
        o.desc.channel = ch
        for later in self.out:
            if later.call is oc:
                later.desc.channel = ch
        oc._state = OPEN
        self.own_calls[ch] = oc
        if oc.deadline is not None:
            heapq.heappush(self.deadlines, (oc.deadline, next(self._seq), oc))
        return True

    def _cancel_own(self, oc, code, reason):
        if oc._final:
            return
        if oc._state == OPEN:
            self._queue_ctl(D.Desc(channel=oc.channel, kind=D.RESET, aux=code), _reason(reason))
            self.own_calls.pop(oc.channel, None)
        self._purge(oc)
        oc._finish(code, reason)

    # -- sending ---------------------------------------------------------------

    def _queue_ctl(self, d, payload):
        if len(self.ctl_out) >= MAX_CONTROL_QUEUE:
            raise LinkError("more than %d control frames wait to be sent: the host does not read its ring"
                            % MAX_CONTROL_QUEUE)
        self.ctl_out.append((d, payload))

    def _reset_call(self, call, code, reason):
        call._cancel_with(code, reason)
        call._state = CLOSED
        self.calls.pop(call.channel, None)
        self._purge(call)
        self._queue_ctl(D.Desc(channel=call.channel, kind=D.RESET, aux=code), _reason(reason))

    def _queue_status(self, call, code, message="", details=b"", response=None, on_sent=None):
        d = D.Desc(channel=call.channel, kind=D.STATUS, flags=D.END, aux=code)
        if code == status.OK:
            if response is not None:
                d.flags |= D.MSG
                payload = response
            else:
                payload = b""
        else:
            payload = frames.encode_status_body(message, details)
        trailer = getattr(call, "_trailer", None)
        if trailer:
            d.flags |= D.MD
            payload = trailer + bytes(payload)
        call._state = CLOSING
        self.out.append(_Out(call, d, payload, on_sent))

    def _sent(self, o):
        call = o.call
        if call is not None:
            k = o.desc.kind
            if k == D.STATUS:
                call._state = CLOSED
                self.calls.pop(call.channel, None)
            if o.cost_queued:
                with call._cv:
                    call._queued -= o.cost_queued
                    call._cv.notify_all()
        if o.on_sent is not None:
            o.on_sent()

    def _flush(self):
        if not self.ctl_out and not self.out:
            # Nothing queued (so nothing written and not published: every
            # try_send is published before _flush returns).
            self.blocked, self.blocked_since = 0, None
            return
        link = self.link
        blocked = 0
        while self.ctl_out:
            d, payload = self.ctl_out[0]
            r = link.try_send(d, payload)
            if r != SENT:
                blocked = r
                break
            self.ctl_out.popleft()
        if not blocked and self.out:
            keep = []
            held = set()  # calls with an earlier frame still waiting
            now = time.monotonic()
            for o in self.out:
                c = o.call
                key = id(c)
                if blocked or self.link_send <= 0 or key in held or (c is not None and c._send_window <= 0):
                    keep.append(o)
                    held.add(key)
                    continue
                if o.desc.kind == D.OPEN and not self._prepare_open(o, now):
                    continue
                try:
                    r = link.try_send(o.desc, o.payload)
                except (TooLarge, BlobSendError) as e:
                    if not self._too_large(o, str(e)):
                        continue
                    r = link.try_send(o.desc, o.payload)
                if r != SENT:
                    blocked = r
                    keep.append(o)
                    held.add(key)
                    continue
                cost = o.desc.length + 64
                self.link_send -= cost
                if c is not None:
                    c._send_window -= cost
                self._sent(o)
            self.out = keep
        link.publish()
        now = time.monotonic()
        if not blocked:
            self.blocked, self.blocked_since = 0, None
            return
        if self.blocked != blocked or self.blocked_since is None:
            self.blocked, self.blocked_since = blocked, now
        elif now - self.blocked_since >= SEND_WAIT:
            if blocked == NO_RING:
                raise LinkError("the host has not taken descriptors from its ring for %.0f s" % SEND_WAIT)
            # No slot for that long: the waiting response fails instead.
            for o in self.out:
                if o.desc.kind == D.STATUS and len(o.payload) > D.INLINE_MAX:
                    self._too_large(o, "no free slot for %d bytes within %.0f s" % (len(o.payload), SEND_WAIT))
                    break
            self.blocked_since = now

    def _too_large(self, o, why):
        """A frame that cannot be placed: a response becomes
        RESOURCE_EXHAUSTED (True: send the replacement); a stream message
        fails its call, a notification is dropped (False)."""
        c = o.call
        k = o.desc.kind
        if type(o.payload) is Lease:
            o.payload._drop()
        if k == D.STATUS:
            self.log.warn("response fails", channel=c.channel, reason=why)
            o.desc = D.Desc(channel=c.channel, kind=D.STATUS, flags=D.END, aux=status.RESOURCE_EXHAUSTED)
            o.payload = frames.encode_status_body("%s.%s: %s" % (c.service, c.method, why)[:MAX_REASON])
            return True
        self.log.warn("frame not sent", kind=D.KIND_NAMES.get(k), reason=why)
        if c is None:
            return False
        if isinstance(c, HostStream):
            if k == D.OPEN:
                # Not sent: its ID, the last one taken, is given back.
                self.own_calls.pop(c.channel, None)
                self.next_own -= 2
                c._state = CLOSED
                self._purge(c)
                c._finish(status.RESOURCE_EXHAUSTED, why)
                return False
            self._cancel_own(c, status.RESOURCE_EXHAUSTED, why)
            return False
        if o.cost_queued:
            with c._cv:
                c._queued -= o.cost_queued
                c._cv.notify_all()
        self._reset_call(c, status.RESOURCE_EXHAUSTED, "%s.%s: %s" % (c.service, c.method, why))
        return False

    def _violation(self, reason):
        """Ends the link for a violation of the host's: RESET on channel 0
        with PROTOCOL_VIOLATION (best effort), then end of file."""
        self.log.error("protocol violation by the host; ending the link", reason=reason)
        try:
            self.ctl_out.clear()
            self.out = []
            self.ctl_out.append((D.Desc(kind=D.RESET, aux=status.PROTOCOL_VIOLATION), _reason(reason)))
            d, payload = self.ctl_out[0]
            if self.link.try_send(d, payload) == SENT:
                self.link.publish()
        except Exception:
            pass
        self.link.shutdown()


def _shown(names, most=8):
    out = ", ".join(names[:most])
    if len(names) > most:
        out += " and %d more" % (len(names) - most)
    return out


def _reason(text):
    b = text.encode("utf-8", "replace")
    if len(b) > MAX_REASON:
        b = b[:MAX_REASON].decode("utf-8", "ignore").encode("utf-8")
    return b
