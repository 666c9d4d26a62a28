package otelplexus

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Attribute keys. rpc.system, rpc.service and rpc.method are those of the
// OpenTelemetry RPC semantic conventions up to semconv 1.38, which most
// backends and dashboards know, and which split a method's name from its
// service's; rpc.response.status_code is the key the conventions give a
// status code carried as its name ("OK", "NOT_FOUND") from semconv 1.39
// on, which is how plexus codes read (the older conventions have a key
// per RPC system only, rpc.grpc.status_code for gRPC). The plexus.* keys
// are this package's own.
const (
	keySystem     = attribute.Key("rpc.system")
	keyService    = attribute.Key("rpc.service")
	keyMethod     = attribute.Key("rpc.method")
	keyStatusCode = attribute.Key("rpc.response.status_code")
	keyMethodID   = attribute.Key("plexus.method_id")
	keyMethodKind = attribute.Key("plexus.method_kind")
	keySide       = attribute.Key("plexus.side")
)

// system is rpc.system's value for every call.
const system = "plexus"

// splitName splits "service.method" at its last dot: service names are
// dotted ("otest.Plugin"), method names are not.
func splitName(name string) (service, method string) {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

// methodIDString is how a method ID reads in names and attributes: in hex,
// as plexus prints IDs elsewhere, and as a string because IDs use all 64
// bits, which an int64 attribute would show negative.
func methodIDString(id uint64) string {
	return "0x" + strconv.FormatUint(id, 16)
}

// reserved names the methods of the link's own service (SPEC.md "Reserved
// service"), which the host calls without any description of them naming
// them: its Shutdown at every Close would otherwise read as an ID.
var reserved = map[uint64]string{
	plexus.MethodID("plexus.Link", "Shutdown"): "plexus.Link.Shutdown",
}

// nameOf is the call's "service.method" name as far as it is known.
func nameOf(info *session.CallInfo) string {
	if info.Name != "" {
		return info.Name
	}
	return reserved[info.Method]
}

// spanName is the call's name, or, when this side does not know it (a
// call to a method Config.Peer does not describe), one made from its ID.
func spanName(info *session.CallInfo) string {
	if n := nameOf(info); n != "" {
		return n
	}
	return "plexus.call/" + methodIDString(info.Method)
}

// kindName names a method's shape for plexus.method_kind.
func kindName(k plexus.MethodKind) string {
	switch k {
	case plexus.Unary:
		return "unary"
	case plexus.ServerStream:
		return "server_stream"
	case plexus.ClientStream:
		return "client_stream"
	case plexus.BidiStream:
		return "bidi_stream"
	case plexus.Notification:
		return "notification"
	}
	return "unknown"
}

// codeName is a status code's name for rpc.response.status_code.
func codeName(c plexus.Code) string { return c.String() }

// knownCode reports whether c is one plexus names; only those are cached,
// since a peer may send any number, and a cache entry per number would
// let it grow this side's memory without bound.
func knownCode(c plexus.Code) bool { return !strings.HasPrefix(c.String(), "CODE(") }
