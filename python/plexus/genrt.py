"""The runtime that code written by plexus gen -python calls: it turns a
generated base class's methods into plexus.Method handlers (decoding the
arguments, encoding the results, streams and application errors) and
gives generated clients their calls to the host.

Nothing here is for applications to call directly; see python/README.md.
"""

import threading

from . import status
from .codec import LEASE, AppError, CodecError, Decoder, _put_str, decode_tuple, encode_tuple
from .service import (BIDI_STREAM, CLIENT_STREAM, NOTIFICATION, SERVER_STREAM, UNARY, Method, Service,
                      method_id)
from .session import host as _host


class Spec:
    """One method of a generated service: its Go shape and types.

    args, results: descriptors of the tuple elements; up: what the handler
    receives on its stream; down: what it sends; lease_args, lease_results:
    the whole request or response is one lease (raw bytes, no tuple)."""

    __slots__ = ("name", "kind", "signature", "args", "results", "up", "down", "lease_args",
                 "lease_results", "idempotent", "id", "full")

    def __init__(self, name, kind, signature, args=(), results=(), up=None, down=None,
                 lease_args=False, lease_results=False, idempotent=False, id=None):
        self.name, self.kind, self.signature = name, kind, signature
        self.args, self.results, self.up, self.down = tuple(args), tuple(results), up, down
        self.lease_args, self.lease_results, self.idempotent = lease_args, lease_results, idempotent
        self.id = id
        self.full = name


def bind(service_name, specs):
    """Sets each spec's method ID and the service-qualified name of its
    messages; returns {name: spec}."""
    out = {}
    short = service_name.rsplit(".", 1)[-1]
    for s in specs:
        mid = method_id(service_name, s.name)
        if s.id is not None and s.id != mid:
            raise ValueError("%s.%s: method ID %#x is not the Go side's %#x" % (service_name, s.name, mid, s.id))
        s.id = mid
        s.full = short + "." + s.name
        out[s.name] = s
    return out


# ------------------------------------------------------------ serving side

def _invalid(spec, e):
    return status.Status(status.INVALID_ARGUMENT, "%s: %s" % (spec.full, e))


def _decode_args(spec, request):
    if spec.lease_args:
        return [b"" if request is None else request]
    if request is None:
        raise status.Status(status.INVALID_ARGUMENT, "%s: the call has no arguments" % spec.full)
    try:
        return decode_tuple(spec.args, request, views=True)
    except CodecError as e:
        raise _invalid(spec, e) from None


def _encode_results(spec, ret):
    if spec.lease_results:
        return b"" if ret is None else ret
    n = len(spec.results)
    if n == 0:
        vals = ()
    elif n == 1:
        vals = (ret,)
    else:
        if not isinstance(ret, tuple) or len(ret) != n:
            raise status.Status(status.INTERNAL, "%s: the handler returned %s, not a tuple of %d results"
                                % (spec.full, type(ret).__name__, n))
        vals = ret
    try:
        return encode_tuple(spec.results, vals)
    except (CodecError, TypeError, ValueError, OverflowError) as e:
        raise status.Status(status.INTERNAL, "%s: encoding the results: %s" % (spec.full, e)) from None


def app_status(e):
    """The APPLICATION_ERROR status of an application error: the details
    are [name, the value's msgp encoding]."""
    out = bytearray(b"\x92")
    _put_str(out, e.error_name)
    try:
        e._type.enc(out, e)
    except (CodecError, TypeError, ValueError) as ce:
        return status.Status(status.INTERNAL, "encoding application error %s: %s" % (e.error_name, ce))
    return status.Status(status.APPLICATION_ERROR, str(e), bytes(out))


def _guard(spec, fn):
    """Runs fn, turning an application error into its status."""
    try:
        return fn()
    except AppError as e:
        raise app_status(e) from None


class Recv:
    """What a stream handler receives: iterate it, or call it for the next
    value (EOFError once the caller has ended its side). A message that
    does not decode fails the call with INVALID_ARGUMENT."""

    __slots__ = ("_call", "_spec", "_views")

    def __init__(self, call, spec, views):
        self._call, self._spec, self._views = call, spec, views

    def __call__(self):
        m = self._call.recv()
        if m is None:
            raise EOFError("end of stream")
        if self._spec.up is LEASE:
            return m
        try:
            return decode_tuple((self._spec.up,), m, views=self._views)[0]
        except CodecError as e:
            raise _invalid(self._spec, e) from None

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self()
        except EOFError:
            raise StopIteration from None


def _sender(call, spec):
    t = (spec.down,)
    if spec.down is LEASE:
        return call.send

    def send(v):
        try:
            msg = encode_tuple(t, (v,))
        except (CodecError, TypeError, ValueError, OverflowError) as e:
            raise status.Status(status.INTERNAL, "%s: encoding a message: %s" % (spec.full, e)) from None
        call.send(msg)
    return send


def _handler(spec, fn, stream_views):
    kind = spec.kind
    if kind == UNARY:
        def unary(request):
            args = _decode_args(spec, request)
            try:
                ret = fn(*args)
            except AppError as e:
                raise app_status(e) from None
            return _encode_results(spec, ret)
        return unary
    if kind == NOTIFICATION:
        def note(message):
            try:
                args = _decode_args(spec, message)
            except status.Status:
                return  # a malformed notification is dropped (SPEC.md)
            try:
                fn(*args)
            except AppError:
                pass
        return note

    def stream(request, call):
        args = _decode_args(spec, request)
        if kind in (CLIENT_STREAM, BIDI_STREAM):
            args.append(Recv(call, spec, stream_views))
        if kind in (SERVER_STREAM, BIDI_STREAM):
            args.append(_sender(call, spec))
        ret = _guard(spec, lambda: fn(*args))
        if kind == CLIENT_STREAM:
            return _encode_results(spec, ret)
        return None
    return stream


def service(impl, name, specs):
    """The plexus.Service serving impl (an instance of a generated base
    class) under name. A method the class does not override answers
    UNIMPLEMENTED; stream_views on impl makes []byte values of received
    stream messages views (valid until the next receive)."""
    methods = []
    views = bool(getattr(impl, "stream_views", False))
    for spec in specs:
        fn = getattr(impl, spec.name)
        if getattr(fn, "_plexus_unimplemented", False):
            h = None
        else:
            h = _handler(spec, fn, views)
        methods.append(Method(spec.name, spec.signature, h, kind=spec.kind))
    return Service(name, methods)


def unimplemented(fn):
    """Marks a base class's method as not implemented."""
    fn._plexus_unimplemented = True
    return fn


# ------------------------------------------------------------ calling side

class Errors:
    """The application errors a generated module knows, by name."""

    def __init__(self, classes=()):
        self.by_name = {c.error_name: c for c in classes}

    def raise_for(self, st):
        """Raises st as its application error class when it is one this
        module knows and its details decode; else raises st."""
        if st.code == status.APPLICATION_ERROR and st.details:
            cls = None
            try:
                d = Decoder(st.details)
                if d.array_header() == 2:
                    cls = self.by_name.get(d.string())
                if cls is not None:
                    v = cls._type.dec(d)
                    if d.off == d.end:
                        v.message = st.message
                        v.args = (st.message,)
                        raise v from None
            except CodecError:
                pass
        raise st


def _conn(c):
    conn = c if c is not None else _host()
    if conn is None:
        raise status.Status(status.FAILED_PRECONDITION, "no link to the host yet (plexus.host() is None)")
    return conn


def _client_args(spec, args):
    if spec.lease_args:
        return args[0]
    try:
        return encode_tuple(spec.args, args)
    except (CodecError, TypeError, ValueError, OverflowError) as e:
        raise status.Status(status.INVALID_ARGUMENT, "%s: encoding the arguments: %s" % (spec.full, e)) from None


def _client_results(spec, payload):
    if spec.lease_results:
        return bytes(payload)
    try:
        vals = decode_tuple(spec.results, payload)
    except CodecError as e:
        raise status.Status(status.INTERNAL, "%s: results: %s" % (spec.full, e)) from None
    if not vals:
        return None
    return vals[0] if len(vals) == 1 else tuple(vals)


def invoke(conn, errors, spec, args, timeout=None, metadata=None):
    """A unary call to the host: its results (one value, a tuple, or None)."""
    req = _client_args(spec, args)
    try:
        resp = _conn(conn).invoke(spec.id, req, timeout=timeout, metadata=metadata)
    except status.Status as st:
        errors.raise_for(st)
    return _client_results(spec, resp)


def notify(conn, spec, args, metadata=None):
    _conn(conn).notify(spec.id, _client_args(spec, args), metadata=metadata)


class ClientStream:
    """A streaming call to the host, typed: send(v), close_send(), recv()
    (None at the end), iteration, close_and_recv() (a client stream's
    results), close(). Use it as a context manager."""

    def __init__(self, conn, errors, spec, args, timeout=None, metadata=None):
        self._spec, self._errors = spec, errors
        self._st = _conn(conn).stream(spec.id, _client_args(spec, args),
                                      close_send=spec.kind == SERVER_STREAM, timeout=timeout, metadata=metadata)
        self._lock = threading.Lock()

    def send(self, v):
        spec = self._spec
        if spec.up is None:
            raise status.Status(status.FAILED_PRECONDITION, "%s: the handler receives nothing" % spec.full)
        msg = v if spec.up is LEASE else self._encode(spec, v)
        try:
            self._st.send(msg)
        except status.Status as st:
            self._errors.raise_for(st)

    @staticmethod
    def _encode(spec, v):
        try:
            return encode_tuple((spec.up,), (v,))
        except (CodecError, TypeError, ValueError, OverflowError) as e:
            raise status.Status(status.INVALID_ARGUMENT, "%s: encoding a message: %s" % (spec.full, e)) from None

    def close_send(self):
        self._st.close_send()

    def _next(self):
        try:
            m = self._st.recv()
        except status.Status as st:
            self._errors.raise_for(st)
        return m

    def recv(self):
        """The handler's next message (a copy), or None at a clean end."""
        spec = self._spec
        m = self._next()
        if m is None:
            return None
        if spec.down is None:
            raise status.Status(status.INTERNAL, "%s: a message from a handler that sends none" % spec.full)
        if spec.down is LEASE:
            return bytes(m)
        try:
            return decode_tuple((spec.down,), m)[0]
        except CodecError as e:
            self._st.close()
            raise status.Status(status.INTERNAL, "%s: message: %s" % (spec.full, e)) from None

    def __iter__(self):
        while True:
            v = self.recv()
            if v is None:
                return
            yield v

    def close_and_recv(self):
        """Ends the sending side and returns the results."""
        self._st.close_send()
        m = self._next()
        if m is None:
            self._errors.raise_for(status.Status(status.INTERNAL, "%s: no results before the end" % self._spec.full))
        vals = _client_results(self._spec, m)
        if self._next() is not None:
            raise status.Status(status.INTERNAL, "%s: more than one results message" % self._spec.full)
        return vals

    def close(self):
        self._st.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
