"""Status codes (SPEC.md "Status codes") and the errors handlers raise."""

OK = 0
CANCELED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16
PEER_DIED = 64
PROTOCOL_VIOLATION = 65
VERSION_MISMATCH = 66
LINK_CLOSED = 67
APPLICATION_ERROR = 68

_NAMES = {
    0: "OK", 1: "CANCELED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
    13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
    64: "PEER_DIED", 65: "PROTOCOL_VIOLATION", 66: "VERSION_MISMATCH", 67: "LINK_CLOSED",
    68: "APPLICATION_ERROR",
}


def code_name(code):
    """The name of a status code; any other value is an opaque code."""
    return _NAMES.get(code, "CODE(%d)" % code)


class Status(Exception):
    """An error with a status code, raised by a handler (or met by a caller).

    details are the status body's opaque details (bytes).
    """

    def __init__(self, code, message="", details=b""):
        if not isinstance(code, int) or not 0 < code < 1 << 32:
            raise ValueError("status code %r is not in 1..2^32-1" % (code,))
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = bytes(details)

    def __str__(self):
        return "%s: %s" % (code_name(self.code), self.message)


class ApplicationError(Status):
    """A typed application error (SPEC.md "Application errors").

    name is the error's global name ("package.Type"); value is encoded with
    MessagePack (msgpack.packb) as the second element of the details array.
    """

    def __init__(self, name, message, value=None):
        import msgpack  # the only place this milestone needs MessagePack

        if not isinstance(name, str) or not name:
            raise ValueError("an application error needs a name")
        # A MessagePack array of two: the name (str), then the value's own
        # encoding, inlined (not wrapped in a bin).
        details = b"\x92" + msgpack.packb(name, use_bin_type=True) + msgpack.packb(value, use_bin_type=True)
        super().__init__(APPLICATION_ERROR, message, details)
        self.name = name
        self.value = value
