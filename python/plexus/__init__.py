"""plexus for Python: a plugin that a Go plexus host starts and calls over
the shared-memory link, written from SPEC.md.

    import plexus

    def echo(request):          # request: bytes-like (a read-only view of
        return bytes(request)   # shared memory while the handler runs)

    plexus.serve("my-cookie", versions={1: [
        plexus.Service("demo.Echo", [plexus.Method("Echo", 0x1111, echo)]),
    ]})

Unary and streaming calls, notifications both ways, calls to the host
(plexus.host()) and blobs; see python/README.md.
"""

from .log import Logger
from .serve import EXIT_FAILED, EXIT_NOT_PLUGIN, EXIT_OK, run, serve
from .service import (BIDI_STREAM, CLIENT_STREAM, NOTIFICATION, SERVER_STREAM, UNARY, Method, Service,
                      method_id, signature_hash)
from .lease import Lease
from .session import Call, HostConn, HostStream, Notification, current_call, host, lease
from .status import ApplicationError, Status
from . import status as codes

__all__ = ["serve", "run", "Service", "Method", "method_id", "signature_hash", "Status",
           "ApplicationError", "codes", "Call", "current_call", "lease", "Lease", "Logger", "host", "HostConn", "HostStream",
           "Notification", "UNARY", "SERVER_STREAM", "CLIENT_STREAM", "BIDI_STREAM", "NOTIFICATION",
           "EXIT_OK", "EXIT_FAILED", "EXIT_NOT_PLUGIN"]
