"""The session layer, acceptor side (SPEC.md "Session frames" and "Session
semantics"): channels, unary calls, flow control, deadlines, keepalive,
GoAway, and the reserved plexus.Link.Shutdown.

One thread, the session loop, owns the transport: it receives and checks
frames, keeps every window, and sends. Handlers run on worker threads and
hand their results back through a queue and a private eventfd.

Streams, notifications and calls to the host come in later milestones;
the channel bookkeeping below already tells the two parities apart
(own_calls is where this side's calls will live).
"""

import heapq
import itertools
import os
import threading
import time
from collections import deque

from . import desc as D
from . import frames, status
from .errors import LinkError, PeerGone, ProtocolViolation
from .link import NO_RING, SENT, TooLarge
from .service import SHUTDOWN_ID
from .workers import Workers

CHANNEL_WINDOW0 = 65536   # initial window per channel and direction
LINK_WINDOW0 = 1 << 20    # initial window per link and direction
MAX_GRANT = 1 << 31       # largest grant in one CREDIT (the spec allows 2^32 - 1)
MAX_CONTROL_QUEUE = 65536
SEND_WAIT = 5.0           # seconds a frame waits for ring space or a slot
MAX_DEADLINE_NS = 1 << 62
TERM_GRACE = 0.5          # SIGTERM: wait this long for the link to end ...
DRAIN_TIME = 1.0          # ... then drain for at most this long
MAX_REASON = 1024

# channel states (this side's view of a channel the peer opened)
OPEN, HALF, CLOSING, CLOSED = "open", "half-closed", "closing", "closed"

_local = threading.local()


def current_call():
    """The Call a handler runs for (None outside a handler)."""
    return getattr(_local, "call", None)


class Call:
    """One call the host made, as its handler sees it.

    service, method: names; channel: the channel ID; deadline: a
    time.monotonic() value, or None; metadata: the caller's metadata (str
    keys, bytes values). cancelled says whether the call was cancelled
    (RESET, deadline, link end); code is the status it was cancelled with.
    """

    def __init__(self, channel, method_id, service, method, deadline, metadata):
        self.channel = channel
        self.method_id = method_id
        self.service = service
        self.method = method
        self.deadline = deadline
        self.metadata = metadata
        self.code = 0
        self._cancel = threading.Event()
        # session-private
        self._state = OPEN
        self._peer_ended = False
        self._send_window = CHANNEL_WINDOW0
        self._recv_view = CHANNEL_WINDOW0
        self._recv_pending = 0
        self._frame = None

    @property
    def cancelled(self):
        return self._cancel.is_set()

    def wait_cancelled(self, timeout=None):
        """Blocks until the call is cancelled or timeout passes; returns
        whether it was cancelled."""
        return self._cancel.wait(timeout)

    def remaining(self):
        """Seconds left before the deadline (None without one)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _cancel_with(self, code):
        if not self._cancel.is_set():
            self.code = code
            self._cancel.set()


class _Out:
    __slots__ = ("call", "desc", "payload", "on_sent")

    def __init__(self, call, d, payload, on_sent=None):
        self.call, self.desc, self.payload, self.on_sent = call, d, payload, on_sent


class End(Exception):
    """How the session ended: kind is "closed" (end of file after the
    host's Shutdown notice), "peer_died", "reset" (the host reset the
    link), "violation", "failed" or "drained"."""

    def __init__(self, kind, message, code=0):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code


class Session:
    def __init__(self, link, methods, limits, log, max_workers=64):
        """methods: {method ID: (service name, plexus.Method)} of the
        negotiated version; limits: the HELLO's (the plugin uses the
        host's windows)."""
        self.link = link
        self.methods = methods
        self.log = log
        self.channel_window = limits.channel_window
        self.link_window = limits.link_window
        self.max_payload = limits.max_payload
        self.link_send = LINK_WINDOW0   # our send window of the link
        self.link_recv = LINK_WINDOW0   # our view of the host's
        self.link_pending = 0           # consumed, not yet given back
        self.highest_peer = 0           # highest channel the host opened
        self.next_own = 2               # the next channel this side would open
        self.calls = {}                 # channels the host opened, not closed
        self.own_calls = {}             # channels this side opened (later milestones)
        self.ctl_out = deque()          # cost-free frames: PONG, CREDIT, RESET, GOAWAY
        self.out = []                   # costed frames, in order
        self.completions = deque()
        self.deadlines = []
        self._seq = itertools.count()
        self.wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.workers = Workers(max_workers)
        self.closing = False            # the host's Shutdown notice arrived
        self.goaway_sent = None
        self.peer_goaway = None
        self.running = 0
        self.sigterm_at = None
        self.drain_until = None
        self.blocked = 0
        self.blocked_since = None

    # -- the loop ------------------------------------------------------------

    def start(self):
        """What the session sends first: the link window above the initial
        one, as a CREDIT on channel 0."""
        if self.link_window > LINK_WINDOW0:
            self._grant(0, self.link_window - LINK_WINDOW0)
        self._flush()

    def run(self):
        """Serves until the link ends; returns the End that says how."""
        try:
            self.start()
            while True:
                self._step()
        except End as e:
            end = e
        except ProtocolViolation as e:
            self._violation(str(e))
            end = End("violation", str(e), status.PROTOCOL_VIOLATION)
        except PeerGone as e:
            end = End("peer_died", str(e), status.PEER_DIED)
        except LinkError as e:
            self.link.shutdown()
            end = End("failed", str(e), status.INTERNAL)
        for call in list(self.calls.values()):
            call._cancel_with(end.code or status.LINK_CLOSED)
        return end

    def on_sigterm(self):
        """Called from a signal handler: remembers the time, wakes the loop."""
        if self.sigterm_at is None:
            self.sigterm_at = time.monotonic()
        try:
            os.eventfd_write(self.wake_fd, 1)
        except OSError:
            pass

    def _step(self):
        busy = False
        while self.completions:
            call, outcome = self.completions.popleft()
            self._complete(call, outcome)
            busy = True
        frames_in = self.link.receive()
        for f in frames_in:
            if not self._handle(f):
                f.release()
        busy = busy or bool(frames_in)
        now = time.monotonic()
        self._expire(now)
        self._flush()
        if busy:
            return
        if self.link.gone:
            # Everything the host published before it went is handled.
            if self.closing:
                raise End("closed", "the host closed the link", status.LINK_CLOSED)
            raise End("peer_died", "the host closed the control socket without notice (it died?)", status.PEER_DIED)
        timeout = self._timeout(now)
        if timeout is not None and timeout <= 0:
            return
        if self.link.wait(timeout, self.blocked, self.wake_fd):
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

    # -- receiving -------------------------------------------------------------

    def _handle(self, f):
        """Checks and dispatches one frame. Returns True if the frame is kept
        (its payload is in use), False to release it now."""
        d = f.desc
        k, fl = d.kind, d.flags
        if not 1 <= k <= 9:
            raise ProtocolViolation("frame kind %d" % k)
        if fl & D.PACKED and not (k == D.DATA and fl & D.MSG and not fl & D.MD):
            raise ProtocolViolation("PACKED on %s with flags %#x" % (D.KIND_NAMES[k], fl))
        if k in (D.NOTIFY, D.PING, D.PONG, D.GOAWAY):
            if d.channel != 0:
                raise ProtocolViolation("%s on channel %d, not 0" % (D.KIND_NAMES[k], d.channel))
        elif k in (D.OPEN, D.DATA, D.STATUS) and d.channel == 0:
            raise ProtocolViolation("%s on channel 0" % D.KIND_NAMES[k])
        if k == D.OPEN:
            return self._open(f)
        if k == D.DATA:
            self._data(f)
        elif k == D.STATUS:
            self._status(f)
        elif k == D.RESET:
            self._reset(f)
        elif k == D.CREDIT:
            self._credit(f)
        elif k == D.NOTIFY:
            self._notify(f)
        elif k == D.PING:
            self._queue_ctl(D.Desc(kind=D.PONG, aux=d.aux), b"")
        elif k == D.GOAWAY:
            self.peer_goaway = d.aux
            self.log.debug("host sent GOAWAY", limit=d.aux, reason=bytes(f.payload).decode("utf-8", "replace"))
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

    def _charge_link(self, cost):
        if self.link_recv <= 0:
            raise ProtocolViolation("costed frame while the host's link window is %d" % self.link_recv)
        self.link_recv -= cost
        # The link window is given back when the frame is dispatched.
        self.link_pending += cost
        if self.link_pending >= self.link_window // 2:
            self._grant(0, self.link_pending)
            self.link_pending = 0

    def _charge_channel(self, call, cost):
        if call._recv_view <= 0:
            raise ProtocolViolation("costed frame while the host's window of channel %d is %d" % (call.channel, call._recv_view))
        call._recv_view -= cost

    def _consumed_channel(self, call, cost):
        """Gives channel credit back for what the application consumed; none
        once the host has ended its side."""
        if call._peer_ended or call._state in (CLOSING, CLOSED):
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
        call = Call(ch, d.method, svc, m.name if m else "", deadline, md)
        call._send_window = CHANNEL_WINDOW0 + d.credit
        call._recv_view = CHANNEL_WINDOW0 - cost
        call._peer_ended = bool(d.flags & D.END)
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
        if not d.flags & D.MSG:
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
        self.workers.submit(self._run_handler, call, m.handler, body)
        return True

    def _unknown(self, mid):
        half = mid >> 32
        for known in self.methods:
            if known >> 32 == half:
                return "service %s has no method with ID %#018x" % (self.methods[known][0], mid)
        return "no service serves method ID %#018x" % mid

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
        if d.flags & D.PACKED:
            frames.check_packed(body)
        if call is None or call._state in (CLOSING, CLOSED):
            return
        self._charge_channel(call, cost)
        if d.flags & D.END:
            call._peer_ended = True
            if call._state == OPEN:
                call._state = HALF
        # Unary handlers take the OPEN's message only; streams will queue
        # these messages. Consumed now: credit goes back.
        self._consumed_channel(call, cost)

    def _status(self, f):
        d = f.desc
        ch = d.channel
        call = self._peer_channel(ch)
        if call is not None and ch & 1:
            raise ProtocolViolation("STATUS on channel %d, which the host opened and which is still open" % ch)
        self._charge_link(d.length + 64)
        body = f.payload
        if d.flags & D.MD:
            _, n = frames.parse_metadata(body)
            body = body[n:]
        if d.aux & 0xFFFFFFFF:
            frames.parse_status_body(body)
        # STATUS for this side's own calls: a later milestone (own_calls is empty).

    def _reset(self, f):
        d = f.desc
        code = d.aux & 0xFFFFFFFF
        reason = bytes(f.payload).decode("utf-8", "replace")
        if d.channel == 0:
            raise End("reset", "peer reset the link: %s: %s" % (status.code_name(code), reason), status.PEER_DIED)
        call = self._peer_channel(d.channel)
        if call is None:
            return
        call._cancel_with(code)
        if call._state != CLOSING:
            call._state = CLOSED
            self.calls.pop(d.channel, None)

    def _credit(self, f):
        d = f.desc
        if d.channel == 0:
            self.link_send += d.credit
            return
        call = self._peer_channel(d.channel)
        if call is not None:
            call._send_window += d.credit

    def _notify(self, f):
        d = f.desc
        self._charge_link(d.length + 64)
        if d.flags & D.MD:
            frames.parse_metadata(f.payload)
        # This milestone serves no notifications: a NOTIFY for a method not
        # served as one is dropped; its cost came back with the link credit.
        self.log.debug("notification dropped: this plugin serves no notifications", method="%#018x" % d.method)

    # -- handlers --------------------------------------------------------------

    def _run_handler(self, call, handler, request):
        """On a worker thread: runs the handler and queues its outcome."""
        if call.cancelled:
            outcome = (call.code or status.CANCELED, "call cancelled before its handler ran", b"")
        else:
            _local.call = call
            try:
                outcome = (status.OK, handler(request))
            except status.Status as st:
                outcome = (st.code, st.message, st.details)
            except Exception as e:  # an error of the handler: UNKNOWN with its text
                outcome = (status.UNKNOWN, "%s: %s" % (type(e).__name__, e), b"")
            except BaseException as e:  # SystemExit and the like: the handler's failure
                outcome = (status.INTERNAL, "handler raised %s" % type(e).__name__, b"")
            finally:
                _local.call = None
        self.completions.append((call, outcome))
        try:
            os.eventfd_write(self.wake_fd, 1)
        except OSError:
            pass

    def _complete(self, call, outcome):
        self.running -= 1
        frame, call._frame = call._frame, None
        if call._state not in (OPEN, HALF):
            # Reset or timed out meanwhile: the answer goes nowhere.
            if frame is not None:
                frame.release()
            return
        release = frame.release if frame is not None else None
        if outcome[0] == status.OK:
            result = outcome[1]
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
            if call._state in (OPEN, HALF):
                call._cancel_with(status.DEADLINE_EXCEEDED)
                self._queue_status(call, status.DEADLINE_EXCEEDED, "deadline exceeded")

    # -- sending ---------------------------------------------------------------

    def _queue_ctl(self, d, payload):
        if len(self.ctl_out) >= MAX_CONTROL_QUEUE:
            raise LinkError("more than %d control frames wait to be sent: the host does not read its ring"
                            % MAX_CONTROL_QUEUE)
        self.ctl_out.append((d, payload))

    def _reset_call(self, call, code, reason):
        call._cancel_with(code)
        call._state = CLOSED
        self.calls.pop(call.channel, None)
        self._queue_ctl(D.Desc(channel=call.channel, kind=D.RESET, aux=code), _reason(reason))

    def _queue_status(self, call, code, message="", details=b"", response=None, on_sent=None):
        d = D.Desc(channel=call.channel, kind=D.STATUS, flags=D.END, aux=code)
        if code == status.OK:
            d.flags |= D.MSG
            payload = response
        else:
            payload = frames.encode_status_body(message, details)
        call._state = CLOSING
        self.out.append(_Out(call, d, payload, on_sent))

    def _sent(self, o):
        call = o.call
        if o.desc.kind == D.STATUS:
            call._state = CLOSED
            self.calls.pop(call.channel, None)
        if o.on_sent is not None:
            o.on_sent()

    def _flush(self):
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
            held = set()  # channels with an earlier frame still waiting
            for i, o in enumerate(self.out):
                ch = o.call.channel
                if blocked or self.link_send <= 0 or ch in held or o.call._send_window <= 0:
                    keep.append(o)
                    held.add(ch)
                    continue
                try:
                    r = link.try_send(o.desc, o.payload)
                except TooLarge as e:
                    self._too_large(o, str(e))
                    r = link.try_send(o.desc, o.payload)
                if r != SENT:
                    blocked = r
                    keep.append(o)
                    held.add(ch)
                    continue
                cost = o.desc.length + 64
                self.link_send -= cost
                o.call._send_window -= cost
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
        """Turns a response that cannot be placed into RESOURCE_EXHAUSTED."""
        if o.desc.kind != D.STATUS:
            raise LinkError(why)
        self.log.warn("response fails", channel=o.call.channel, reason=why)
        o.desc = D.Desc(channel=o.call.channel, kind=D.STATUS, flags=D.END, aux=status.RESOURCE_EXHAUSTED)
        o.payload = frames.encode_status_body("%s.%s: %s" % (o.call.service, o.call.method, why)[:MAX_REASON])

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


def _reason(text):
    b = text.encode("utf-8", "replace")
    if len(b) > MAX_REASON:
        b = b[:MAX_REASON].decode("utf-8", "ignore").encode("utf-8")
    return b
