"""Services, methods, method IDs and names (SPEC.md "Method IDs",
"Handshake messages" for names, "Reserved service")."""

RESERVED_SERVICE = "plexus.Link"
MAX_SERVICES = 1024
MAX_METHODS = 4096


def fnv1a32(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def method_id(service, method):
    """High 32 bits: FNV-1a 32 of the service name; low 32 bits: FNV-1a 32
    of service + "." + method (UTF-8)."""
    return (fnv1a32(service.encode()) << 32) | fnv1a32((service + "." + method).encode())


def signature_hash(text):
    """The 64-bit FNV-1a hash of a signature text ("plexus.sig.v1 Unary
    args(...) results(...)"), SPEC.md "Signature hash"."""
    return fnv1a64(text.encode())


SHUTDOWN_ID = method_id(RESERVED_SERVICE, "Shutdown")


def valid_name(name):
    """1..255 bytes of printable ASCII without spaces (0x21..0x7e)."""
    if isinstance(name, str):
        try:
            name = name.encode("ascii")
        except UnicodeEncodeError:
            return False
    return 1 <= len(name) <= 255 and all(0x21 <= c <= 0x7E for c in name)


UNARY = "Unary"
SERVER_STREAM = "ServerStream"
CLIENT_STREAM = "ClientStream"
BIDI_STREAM = "BidiStream"
NOTIFICATION = "Notification"
KINDS = (UNARY, SERVER_STREAM, CLIENT_STREAM, BIDI_STREAM, NOTIFICATION)
STREAMS = (SERVER_STREAM, CLIENT_STREAM, BIDI_STREAM)


class Method:
    """A method a plugin serves.

    kind is one of UNARY, SERVER_STREAM, CLIENT_STREAM, BIDI_STREAM and
    NOTIFICATION (SPEC.md "Calls of generated services"):

    - unary: handler(request) -> bytes-like (or None for an empty response);
    - streams: handler(request, stream) -> None, or bytes-like: a final
      message sent before the status (the results of a client stream);
      request is the OPEN's message (None if it had none), stream the
      plexus.Call, with send(msg), recv() (None at the caller's end) and
      iteration;
    - notification: handler(message) -> ignored.

    A request or received message is a bytes-like object: a read-only
    memoryview into the link's shared memory (a slot or a blob) when the
    payload is not inline, valid only until the handler returns (a stream
    message: until the next recv()); copy what you keep. A handler raises
    plexus.Status (or ApplicationError) to answer with that status; any
    other exception becomes UNKNOWN with its text. handler None serves the
    method as UNIMPLEMENTED (it is still described in the handshake).
    """

    def __init__(self, name, signature, handler=None, kind=UNARY):
        if not valid_name(name):
            raise ValueError("method name %r is not 1..255 printable ASCII bytes without spaces" % (name,))
        if not isinstance(signature, int) or not 0 <= signature < 1 << 64:
            raise ValueError("signature hash of %s is not a u64" % name)
        if kind not in KINDS:
            raise ValueError("method %s: kind %r is not one of %s" % (name, kind, ", ".join(KINDS)))
        self.name = name
        self.signature = signature
        self.handler = handler
        self.kind = kind


class Service:
    def __init__(self, name, methods):
        if not valid_name(name):
            raise ValueError("service name %r is not 1..255 printable ASCII bytes without spaces" % (name,))
        if name == RESERVED_SERVICE:
            raise ValueError("the service name %s is reserved" % RESERVED_SERVICE)
        methods = list(methods)
        if len(methods) > MAX_METHODS:
            raise ValueError("service %s has %d methods (at most %d)" % (name, len(methods), MAX_METHODS))
        seen = {}
        for m in methods:
            if not isinstance(m, Method):
                raise TypeError("service %s: %r is not a plexus.Method" % (name, m))
            if m.name in seen:
                raise ValueError("service %s lists method %s twice" % (name, m.name))
            seen[m.name] = m
        self.name = name
        self.methods = methods

    def wire(self):
        """(name, [(method, id, signature), ...]) as REPLY lists it."""
        return (self.name, [(m.name, method_id(self.name, m.name), m.signature) for m in self.methods])


def check_services(services):
    """The rules of SPEC.md "Method IDs" for one version's services: no two
    services with the same 32-bit service half, no two methods with the
    same ID, unique names, within the handshake's bounds."""
    if len(services) > MAX_SERVICES:
        raise ValueError("%d services (at most %d)" % (len(services), MAX_SERVICES))
    names, halves, ids = set(), {}, {}
    for s in services:
        if not isinstance(s, Service):
            raise TypeError("%r is not a plexus.Service" % (s,))
        if s.name in names:
            raise ValueError("service %s listed twice" % s.name)
        names.add(s.name)
        half = fnv1a32(s.name.encode())
        if half in halves:
            raise ValueError("services %s and %s have the same service half of their method IDs" % (halves[half], s.name))
        halves[half] = s.name
        for m in s.methods:
            mid = method_id(s.name, m.name)
            if mid in ids:
                raise ValueError("methods %s and %s.%s have the same ID" % (ids[mid], s.name, m.name))
            ids[mid] = s.name + "." + m.name
    if fnv1a32(RESERVED_SERVICE.encode()) in halves:
        raise ValueError("service %s shares its ID half with the reserved %s"
                         % (halves[fnv1a32(RESERVED_SERVICE.encode())], RESERVED_SERVICE))
