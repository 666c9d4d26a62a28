"""MessagePack values of generated services, as the Go codec writes and
reads them (SPEC.md "Value encoding", "Limits on received values",
"Calls of generated services").

Code that plexus gen -python writes describes each Go type with the
descriptors of this module (INT64, List(STRING), Struct classes...) and
calls encode_tuple / decode_tuple. Encoding writes exactly what the Go
codec writes (the smallest integer form, signed integers never as uint
formats, float32 as 0xca, msgp structs as maps of their fields); decoding
accepts what the Go codec accepts, checks every type, length and count
against the bytes left and the limits before it allocates anything, and
raises CodecError (a ValueError) naming the offset, never anything else.

Python values: bool, int, float, str; []byte: a memoryview of the message
(in place, read-only) when the decoder is given views=True, else bytes;
slices: list; maps: dict; pointers: None or the value; time.Time:
msgpack.Timestamp (a datetime.datetime with a tzinfo is accepted when
encoding); time.Duration: int nanoseconds; msgp structs: subclasses of
Struct; nil slices, maps and []byte: None.
"""

import struct as _struct

import msgpack as _msgpack

Timestamp = _msgpack.Timestamp

MAX_DEPTH = 64
MAX_STRING_LEN = 16 << 20
MAX_BYTES_LEN = 1 << 30
MAX_ELEMENTS = 1 << 20

_u8 = _struct.Struct(">B")
_u16 = _struct.Struct(">H")
_u32 = _struct.Struct(">I")
_u64 = _struct.Struct(">Q")
_i8 = _struct.Struct(">b")
_i16 = _struct.Struct(">h")
_i32 = _struct.Struct(">i")
_i64 = _struct.Struct(">q")
_f32 = _struct.Struct(">f")
_f64 = _struct.Struct(">d")
_time96 = _struct.Struct(">Iq")   # ext -1, 12 bytes: nanoseconds, seconds
_time5 = _struct.Struct(">qi")    # msgp's ext 5: seconds, nanoseconds


class CodecError(ValueError):
    """A received value that does not decode (wrong type, truncated,
    out of range, over a limit), or a value that cannot be encoded."""


# ---------------------------------------------------------------- decoding

class Decoder:
    """Reads values from one message (a bytes-like object), bounded by the
    limits of SPEC.md. views: []byte values are memoryviews of the message
    (valid as long as the message is) instead of copies."""

    __slots__ = ("b", "off", "end", "views", "depth", "elements")

    def __init__(self, data, views=False):
        mv = data if isinstance(data, memoryview) else memoryview(data)
        if mv.format != "B" or mv.ndim != 1:
            mv = mv.cast("B")
        self.b = mv
        self.off = 0
        self.end = len(mv)
        self.views = views
        self.depth = 0
        self.elements = 0

    def fail(self, what, at=None):
        raise CodecError("codec: %s at offset %d" % (what, self.off if at is None else at))

    def lead(self):
        if self.off >= self.end:
            self.fail("value expected, message ended")
        c = self.b[self.off]
        self.off += 1
        return c

    def take(self, n):
        if n > self.end - self.off:
            self.fail("%d bytes declared with %d bytes left" % (n, self.end - self.off), self.off)
        o = self.off
        self.off = o + n
        return self.b[o:o + n]

    def unpack(self, st):
        return st.unpack(self.take(st.size))[0]

    def is_nil(self):
        """Consumes a nil and returns True, or leaves the input alone."""
        if self.off < self.end and self.b[self.off] == 0xC0:
            self.off += 1
            return True
        return False

    def integer(self):
        at = self.off
        c = self.lead()
        if c <= 0x7F:
            return c
        if c >= 0xE0:
            return c - 0x100
        st = _INT_FORMS.get(c)
        if st is None:
            self.fail("integer expected, found %s" % _kind(c), at)
        return self.unpack(st)

    def length(self, c, at, fixbase, fixmask, forms, what):
        if fixbase is not None and c & ~fixmask == fixbase:
            return c & fixmask
        st = forms.get(c)
        if st is None:
            self.fail("%s expected, found %s" % (what, _kind(c)), at)
        return self.unpack(st)

    def array_header(self):
        at = self.off
        c = self.lead()
        n = self.length(c, at, 0x90, 0x0F, _ARRAY_FORMS, "array")
        self.count(n, n, at, "array")
        return n

    def map_header(self):
        at = self.off
        c = self.lead()
        n = self.length(c, at, 0x80, 0x0F, _MAP_FORMS, "map")
        self.count(n, 2 * n, at, "map")
        return n

    def count(self, n, need, at, what):
        if need > self.end - self.off:
            self.fail("%s of %d elements declared with %d bytes left" % (what, n, self.end - self.off), at)
        self.elements += n
        if self.elements > MAX_ELEMENTS:
            self.fail("more than %d elements in the message (limit)" % MAX_ELEMENTS, at)

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail("nesting deeper than %d (limit)" % MAX_DEPTH)

    def string(self):
        at = self.off
        c = self.lead()
        n = self.length(c, at, 0xA0, 0x1F, _STR_FORMS, "str")
        if n > MAX_STRING_LEN:
            self.fail("str of %d bytes over the limit of %d" % (n, MAX_STRING_LEN), at)
        raw = self.take(n)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError:
            # Go strings need not be UTF-8; keep every byte.
            return str(raw, "utf-8", "surrogateescape")

    def binary(self):
        at = self.off
        c = self.lead()
        n = self.length(c, at, None, 0, _BIN_FORMS, "bin")
        if n > MAX_BYTES_LEN:
            self.fail("bin of %d bytes over the limit of %d" % (n, MAX_BYTES_LEN), at)
        raw = self.take(n)
        return raw.toreadonly() if self.views else bytes(raw)

    def ext(self):
        """(type, payload) of an extension value."""
        at = self.off
        c = self.lead()
        n = _FIXEXT.get(c)
        if n is None:
            st = _EXT_FORMS.get(c)
            if st is None:
                self.fail("ext expected, found %s" % _kind(c), at)
            n = self.unpack(st)
        typ = self.unpack(_i8)
        return typ, self.take(n), at

    def skip(self):
        """Skips one value, checking it as it goes (unknown struct fields)."""
        at = self.off
        c = self.b[self.off] if self.off < self.end else None
        if c is None:
            self.fail("value expected, message ended")
        if c <= 0x7F or c >= 0xE0 or c in _INT_FORMS:
            self.integer()
        elif c in (0xC0, 0xC2, 0xC3):
            self.off += 1
        elif c == 0xCA or c == 0xCB:
            self.off += 1
            self.take(4 if c == 0xCA else 8)
        elif (c & 0xE0) == 0xA0 or c in _STR_FORMS:
            self.string()
        elif c in _BIN_FORMS:
            self.binary()
        elif c in _FIXEXT or c in _EXT_FORMS:
            self.ext()
        elif (c & 0xF0) == 0x90 or c in _ARRAY_FORMS:
            self.enter()
            for _ in range(self.array_header()):
                self.skip()
            self.depth -= 1
        elif (c & 0xF0) == 0x80 or c in _MAP_FORMS:
            self.enter()
            for _ in range(self.map_header()):
                self.skip()
                self.skip()
            self.depth -= 1
        else:
            self.fail("invalid lead byte %#04x" % c, at)


_INT_FORMS = {0xCC: _u8, 0xCD: _u16, 0xCE: _u32, 0xCF: _u64, 0xD0: _i8, 0xD1: _i16, 0xD2: _i32, 0xD3: _i64}
_ARRAY_FORMS = {0xDC: _u16, 0xDD: _u32}
_MAP_FORMS = {0xDE: _u16, 0xDF: _u32}
_STR_FORMS = {0xD9: _u8, 0xDA: _u16, 0xDB: _u32}
_BIN_FORMS = {0xC4: _u8, 0xC5: _u16, 0xC6: _u32}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_EXT_FORMS = {0xC7: _u8, 0xC8: _u16, 0xC9: _u32}


def _kind(c):
    if c <= 0x7F or c >= 0xE0 or c in _INT_FORMS:
        return "integer"
    if c == 0xC0:
        return "nil"
    if c in (0xC2, 0xC3):
        return "bool"
    if c in (0xCA, 0xCB):
        return "float"
    if (c & 0xE0) == 0xA0 or c in _STR_FORMS:
        return "str"
    if c in _BIN_FORMS:
        return "bin"
    if (c & 0xF0) == 0x90 or c in _ARRAY_FORMS:
        return "array"
    if (c & 0xF0) == 0x80 or c in _MAP_FORMS:
        return "map"
    if c in _FIXEXT or c in _EXT_FORMS:
        return "ext"
    return "invalid byte %#04x" % c


# ---------------------------------------------------------------- encoding

def _put_int(out, v):
    """A signed integer as Go's codec and msgp write it."""
    if v >= 0:
        if v <= 0x7F:
            out.append(v)
        elif v <= 0x7FFF:
            out += b"\xd1" + _i16.pack(v)
        elif v <= 0x7FFFFFFF:
            out += b"\xd2" + _i32.pack(v)
        else:
            out += b"\xd3" + _i64.pack(v)
    elif v >= -32:
        out.append(v & 0xFF)
    elif v >= -0x80:
        out += b"\xd0" + _i8.pack(v)
    elif v >= -0x8000:
        out += b"\xd1" + _i16.pack(v)
    elif v >= -0x80000000:
        out += b"\xd2" + _i32.pack(v)
    else:
        out += b"\xd3" + _i64.pack(v)


def _put_uint(out, v):
    if v <= 0x7F:
        out.append(v)
    elif v <= 0xFF:
        out += b"\xcc" + _u8.pack(v)
    elif v <= 0xFFFF:
        out += b"\xcd" + _u16.pack(v)
    elif v <= 0xFFFFFFFF:
        out += b"\xce" + _u32.pack(v)
    else:
        out += b"\xcf" + _u64.pack(v)


def _put_len(out, n, fixbase, fixmax, f8, f16, f32):
    if n <= fixmax:
        out.append(fixbase | n)
    elif f8 is not None and n <= 0xFF:
        out += f8 + _u8.pack(n)
    elif n <= 0xFFFF:
        out += f16 + _u16.pack(n)
    elif n <= 0xFFFFFFFF:
        out += f32 + _u32.pack(n)
    else:
        raise CodecError("codec: %d elements or bytes do not fit a MessagePack length" % n)


def put_array_header(out, n):
    _put_len(out, n, 0x90, 15, None, b"\xdc", b"\xdd")


def put_map_header(out, n):
    _put_len(out, n, 0x80, 15, None, b"\xde", b"\xdf")


def _put_str(out, s):
    try:
        raw = s.encode("utf-8")
    except UnicodeEncodeError:
        raw = s.encode("utf-8", "surrogateescape")
    _put_len(out, len(raw), 0xA0, 31, b"\xd9", b"\xda", b"\xdb")
    out += raw


def _put_bin(out, v):
    mv = memoryview(v)
    if mv.format != "B" or mv.ndim != 1 or not mv.c_contiguous:
        mv = mv.cast("B") if mv.c_contiguous else memoryview(mv.tobytes())
    n = mv.nbytes
    if n <= 0xFF:
        out += b"\xc4" + _u8.pack(n)
    elif n <= 0xFFFF:
        out += b"\xc5" + _u16.pack(n)
    elif n <= 0xFFFFFFFF:
        out += b"\xc6" + _u32.pack(n)
    else:
        raise CodecError("codec: %d bytes do not fit a bin" % n)
    out += mv


def _bad(what, v):
    return CodecError("codec: cannot encode %s as %s" % (type(v).__name__, what))


# ------------------------------------------------------------- descriptors

class Type:
    """How one Go type is encoded and decoded."""

    name = "?"

    def enc(self, out, v):
        raise NotImplementedError

    def dec(self, d):
        raise NotImplementedError

    def __repr__(self):
        return self.name


class _Bool(Type):
    name = "bool"

    def enc(self, out, v):
        if v is True:
            out.append(0xC3)
        elif v is False:
            out.append(0xC2)
        else:
            raise _bad("bool", v)

    def dec(self, d):
        at = d.off
        c = d.lead()
        if c == 0xC3:
            return True
        if c == 0xC2:
            return False
        d.fail("bool expected, found %s" % _kind(c), at)


class Int(Type):
    def __init__(self, name, bits, signed):
        self.name = name
        if signed:
            self.lo, self.hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        else:
            self.lo, self.hi = 0, (1 << bits) - 1
        self.put = _put_int if signed else _put_uint

    def enc(self, out, v):
        if type(v) is not int:
            if isinstance(v, bool) or not hasattr(v, "__index__"):
                raise _bad(self.name, v)
            v = v.__index__()
        if not self.lo <= v <= self.hi:
            raise CodecError("codec: %d is out of the range of %s" % (v, self.name))
        self.put(out, v)

    def dec(self, d):
        at = d.off
        v = d.integer()
        if not self.lo <= v <= self.hi:
            d.fail("integer %d overflows %s" % (v, self.name), at)
        return v


class _Float(Type):
    def __init__(self, name, single):
        self.name, self.single = name, single

    def enc(self, out, v):
        if isinstance(v, bool) or not isinstance(v, (float, int)):
            raise _bad(self.name, v)
        if self.single:
            try:
                out += b"\xca" + _f32.pack(v)
            except OverflowError:
                raise CodecError("codec: %r is out of the range of float32" % (v,)) from None
        else:
            out += b"\xcb" + _f64.pack(v)

    def dec(self, d):
        at = d.off
        c = d.lead()
        if c == 0xCA:
            return d.unpack(_f32)
        if c == 0xCB and not self.single:
            return d.unpack(_f64)
        d.fail("%s expected, found %s" % (self.name, _kind(c)), at)


class _String(Type):
    name = "string"

    def enc(self, out, v):
        if not isinstance(v, str):
            raise _bad("string", v)
        _put_str(out, v)

    def dec(self, d):
        return d.string()


class Bytes(Type):
    """[]byte: bin; None is nil (in a msgp struct: an empty bin, as msgp
    writes a nil slice)."""

    def __init__(self, msgp=False):
        self.name = "[]byte"
        self.msgp = msgp

    def enc(self, out, v):
        if v is None:
            if self.msgp:
                out += b"\xc4\x00"
            else:
                out.append(0xC0)
            return
        if isinstance(v, str):
            raise _bad("[]byte", v)
        try:
            _put_bin(out, v)
        except TypeError:
            raise _bad("[]byte", v) from None

    def dec(self, d):
        if d.is_nil():
            return None
        return d.binary()


class _KeyBytes(Bytes):
    """[]byte as a map key: bytes (hashable), never a view."""

    def dec(self, d):
        if d.is_nil():
            return None
        return bytes(d.binary())


class Time(Type):
    """time.Time: the timestamp extension (-1) at the top level of the
    codec, msgp's extension 5 inside a msgp struct; both read anywhere."""

    def __init__(self, msgp=False):
        self.name = "time.Time"
        self.msgp = msgp

    def enc(self, out, v):
        if not isinstance(v, Timestamp):
            if hasattr(v, "tzinfo") and hasattr(v, "timestamp") and v.tzinfo is not None:
                v = Timestamp.from_datetime(v)
            else:
                raise _bad("time.Time (a msgpack.Timestamp or an aware datetime)", v)
        sec, ns = v.seconds, v.nanoseconds
        if self.msgp:
            out += b"\xc7\x0c\x05" + _time5.pack(sec, ns)
        elif ns == 0 and 0 < sec <= 0xFFFFFFFF:
            out += b"\xd6\xff" + _u32.pack(sec)
        elif sec < 0 or sec >= 1 << 34:
            out += b"\xc7\x0c\xff" + _time96.pack(ns, sec)
        else:
            out += b"\xd7\xff" + _u64.pack(sec | (ns << 34))

    def dec(self, d):
        typ, p, at = d.ext()
        n = len(p)
        if typ == -1 and n == 4:
            return Timestamp(_u32.unpack(p)[0], 0)
        if typ == -1 and n == 8:
            v = _u64.unpack(p)[0]
            sec, ns = v & ((1 << 34) - 1), v >> 34
        elif typ == -1 and n == 12:
            ns, sec = _time96.unpack(p)
        elif typ == 5 and n == 12:
            sec, ns = _time5.unpack(p)
            if ns < 0:
                d.fail("timestamp with negative nanoseconds", at)
        else:
            d.fail("time expected, found ext %d of %d bytes" % (typ, n), at)
        if ns > 999999999:
            d.fail("timestamp with %d nanoseconds" % ns, at)
        return Timestamp(sec, ns)


class List(Type):
    """[]T: an array; None is nil (in a msgp struct: an empty array)."""

    def __init__(self, elem, msgp=False):
        self.elem, self.msgp = elem, msgp
        self.name = "[]" + elem.name

    def enc(self, out, v):
        if v is None:
            out.append(0x90 if self.msgp else 0xC0)
            return
        if isinstance(v, (str, bytes, dict)):
            raise _bad(self.name, v)
        try:
            n = len(v)
        except TypeError:
            raise _bad(self.name, v) from None
        put_array_header(out, n)
        e = self.elem.enc
        for x in v:
            e(out, x)

    def dec(self, d):
        if d.is_nil():
            return None
        n = d.array_header()
        d.enter()
        e = self.elem.dec
        r = [e(d) for _ in range(n)]
        d.depth -= 1
        return r


class Map(Type):
    """map[K]V: a map; None is nil (in a msgp struct: an empty map); a
    repeated key is an error."""

    def __init__(self, key, elem, msgp=False):
        if isinstance(key, Bytes):
            key = _KeyBytes()
        self.key, self.elem, self.msgp = key, elem, msgp
        self.name = "map[%s]%s" % (key.name, elem.name)

    def enc(self, out, v):
        if v is None:
            out.append(0x80 if self.msgp else 0xC0)
            return
        if not isinstance(v, dict):
            raise _bad(self.name, v)
        put_map_header(out, len(v))
        ke, ve = self.key.enc, self.elem.enc
        for k, x in v.items():
            ke(out, k)
            ve(out, x)

    def dec(self, d):
        if d.is_nil():
            return None
        n = d.map_header()
        d.enter()
        kd, vd = self.key.dec, self.elem.dec
        r = {}
        for _ in range(n):
            at = d.off
            k = kd(d)
            if k in r:
                d.fail("repeated map key %r" % (k,), at)
            r[k] = vd(d)
        d.depth -= 1
        return r


class Ptr(Type):
    """*T: nil or the value (None in Python)."""

    def __init__(self, elem):
        self.elem = elem
        self.name = "*" + elem.name

    def enc(self, out, v):
        if v is None:
            out.append(0xC0)
        else:
            self.elem.enc(out, v)

    def dec(self, d):
        if d.is_nil():
            return None
        d.enter()
        v = self.elem.dec(d)
        d.depth -= 1
        return v


class Raw(Type):
    """A *session.Lease: the whole message, its bytes as they are."""

    name = "lease"


BOOL = _Bool()
INT = Int("int", 64, True)
INT8 = Int("int8", 8, True)
INT16 = Int("int16", 16, True)
INT32 = Int("int32", 32, True)
INT64 = Int("int64", 64, True)
UINT = Int("uint", 64, False)
UINT8 = Int("uint8", 8, False)
UINT16 = Int("uint16", 16, False)
UINT32 = Int("uint32", 32, False)
UINT64 = Int("uint64", 64, False)
FLOAT32 = _Float("float32", True)
FLOAT64 = _Float("float64", False)
STRING = _String()
BYTES = Bytes()
BYTES_MSGP = Bytes(msgp=True)
TIME = Time()
TIME_MSGP = Time(msgp=True)
DURATION = Int("time.Duration", 64, True)
LEASE = Raw()


# ----------------------------------------------------------------- structs

class StructType(Type):
    """The descriptor of a Struct subclass: a msgp map of its fields."""

    def __init__(self, cls):
        self.cls = cls
        self.name = cls.__name__

    def enc(self, out, v):
        cls = self.cls
        if not isinstance(v, cls):
            raise _bad(self.name, v)
        fields = cls._fields
        put_map_header(out, len(fields))
        for key, attr, t in fields:
            _put_str(out, key)
            t.enc(out, getattr(v, attr))

    def dec(self, d):
        cls = self.cls
        by_key = cls._by_key
        n = d.map_header()
        d.enter()
        v = cls()
        for _ in range(n):
            at = d.off
            key = d.string()
            f = by_key.get(key)
            if f is None:
                d.skip()  # msgp skips fields it does not know
                continue
            try:
                setattr(v, f[0], f[1].dec(d))
            except RecursionError:
                d.fail("nesting too deep", at)
        d.depth -= 1
        return v


class Struct:
    """Base of the classes generated for msgp structs. _fields lists
    (msgp key, attribute, descriptor) in the order of the Go fields."""

    __slots__ = ()
    _fields = ()
    _by_key = {}
    _type = None

    def __init__(self, **kw):
        for key, attr, t in self._fields:
            setattr(self, attr, kw.pop(attr, _zero(t)))
        if kw:
            raise TypeError("%s has no field %s" % (type(self).__name__, ", ".join(sorted(kw))))

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._type = StructType(cls)

    @classmethod
    def _setup(cls, fields):
        cls._fields = tuple(fields)
        cls._by_key = {k: (a, t) for k, a, t in fields}

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, a), getattr(other, a)) for _, a, _t in self._fields)

    __hash__ = None

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__,
                           ", ".join("%s=%r" % (a, getattr(self, a)) for _, a, _t in self._fields))


def _same(a, b):
    if isinstance(a, memoryview):
        a = a.tobytes()
    if isinstance(b, memoryview):
        b = b.tobytes()
    return a == b


def _zero(t):
    if isinstance(t, Int):
        return 0
    if isinstance(t, _Float):
        return 0.0
    if t is BOOL:
        return False
    if t is STRING:
        return ""
    if isinstance(t, Time):
        return Timestamp(-62135596800, 0)  # Go's zero time.Time
    if isinstance(t, StructType):
        return t.cls()
    return None


def typeof(t):
    """A descriptor from a descriptor or a Struct subclass."""
    if isinstance(t, type) and issubclass(t, Struct):
        return t._type
    return t


class AppError(Exception):
    """Base of the classes generated for application errors
    (//plexus:errors): a Struct's fields plus the error's name. Raise one
    from a handler to answer APPLICATION_ERROR; a call to the host raises
    one when the host's handler returned it."""

    _fields = ()
    _by_key = {}
    _type = None
    error_name = ""

    def __init__(self, message=None, **kw):
        super().__init__(message)
        for key, attr, t in self._fields:
            setattr(self, attr, kw.pop(attr, _zero(t)))
        if kw:
            raise TypeError("%s has no field %s" % (type(self).__name__, ", ".join(sorted(kw))))
        self.message = message

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        cls._type = StructType(cls)

    _setup = classmethod(Struct._setup.__func__)
    __eq__ = Struct.__eq__
    __hash__ = None

    def __str__(self):
        if self.message is not None:
            return self.message
        return "%s(%s)" % (self.error_name,
                           ", ".join("%s=%r" % (a, getattr(self, a)) for _, a, _t in self._fields))

    __repr__ = Struct.__repr__


# ----------------------------------------------------------------- tuples

def encode_tuple(types, values):
    """An array of one element per type (arguments, results, a stream
    message): bytes."""
    n = len(types)
    if n <= 15:
        out = bytearray((0x90 | n,))
    else:
        out = bytearray()
        put_array_header(out, n)
    for t, v in zip(types, values):
        t.enc(out, v)
    return out


# The common case through msgpack's C extension: a tuple of integers,
# bools and strings (each read from every form the Go codec accepts, and
# checked here for its type and range). Anything msgpack refuses or that
# fails a check goes through Decoder, which accepts exactly what the Go
# codec accepts and names the offset of an error; types msgpack cannot
# tell apart as the Go codec does (float32 from float64) or that are
# views of the message ([]byte), and nested values, always do.
_plans = {}
_MAX_PLANS = 4096
_FAST_MAX = 1 << 16
_unpackb = _msgpack.unpackb


def _plan(types):
    checks = []
    for t in types:
        if isinstance(t, Int):
            checks.append((int, t.lo, t.hi))
        elif t is BOOL:
            checks.append((bool, 0, 1))
        elif t is STRING:
            checks.append((str, 0, 0))
        else:
            return None
    return tuple(checks) if checks else None


def _fast_decode(plan, data):
    # msgpack's defaults: raw=False, use_list=True, every length bounded
    # by the message's (its lengths and counts are checked against the
    # bytes left). Messages above _FAST_MAX (and so any str over
    # MAX_STRING_LEN) go through Decoder.
    try:
        if len(data) > _FAST_MAX:
            return None
        vals = _unpackb(data, unicode_errors="surrogateescape")
    except Exception:
        return None
    if type(vals) is not list or len(vals) != len(plan):
        return None
    for v, (typ, lo, hi) in zip(vals, plan):
        if type(v) is not typ or (typ is int and not lo <= v <= hi):
            return None
    return vals


def decode_tuple(types, data, views=False):
    """The list of values of an array of len(types) elements, checked to
    the last byte."""
    if data is not None:
        try:
            plan = _plans[types]
        except KeyError:
            plan = _plan(types)
            if len(_plans) < _MAX_PLANS:
                _plans[types] = plan
        except TypeError:
            plan = None
        if plan is not None:
            vals = _fast_decode(plan, data)
            if vals is not None:
                return vals
    d = Decoder(b"" if data is None else data, views)
    at = d.off
    n = d.array_header()
    if n != len(types):
        d.fail("array of %d elements where %d were expected" % (n, len(types)), at)
    d.depth = 1
    try:
        vals = [t.dec(d) for t in types]
    except RecursionError:
        raise CodecError("codec: nesting too deep") from None
    if d.off != d.end:
        d.fail("%d trailing bytes" % (d.end - d.off))
    return vals
