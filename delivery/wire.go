package delivery

import (
	"hash/fnv"
	"strconv"

	"github.com/plexus-ipc/plexus"
)

// ServiceName is the reserved service of acknowledged delivery; its one
// method is Deliver.
const ServiceName = "plexus.Delivery"

// DeliverMethod is the method ID of Deliver, the unary call that carries
// an acknowledged notification.
var DeliverMethod = plexus.MethodID(ServiceName, "Deliver")

// Metadata keys of a Deliver call.
const (
	// MetadataID carries the message's ID: printable ASCII, at most
	// MaxIDLen bytes, the same on every resend of the message.
	MetadataID = "plexus-msg-id"
	// MetadataMethod carries the method ID of the notification the
	// message is for, in hexadecimal.
	MetadataMethod = "plexus-msg-method"
)

// MaxIDLen bounds a message ID's length: the peer writes it, and the
// receiving side keeps it in its window.
const MaxIDLen = 128

// deliverSignature is Deliver's signature hash: a hash of its wire form's
// name and version, to be changed with the wire form, so that a host and
// a plugin that disagree on it fail at link time.
var deliverSignature = func() uint64 {
	h := fnv.New64a()
	h.Write([]byte("plexus.Delivery.Deliver/1: metadata plexus-msg-id, plexus-msg-method; request message bytes; response empty"))
	return h.Sum64()
}()

// ServiceDesc describes the service as the link handshake compares it: a
// host that lists it among the services it expects of a plugin
// (host.Config.Versions) refuses, at link time, a plugin that does not
// accept acknowledged notifications.
var ServiceDesc = plexus.ServiceDesc{Name: ServiceName, Methods: []plexus.MethodDesc{
	{Name: "Deliver", ID: DeliverMethod, Kind: plexus.Unary, Signature: deliverSignature},
}}

// parseHeader reads and checks a Deliver call's metadata: everything in it
// came from the peer.
func parseHeader(md plexus.Metadata) (id string, method uint64, err error) {
	id, ok := md[MetadataID]
	if !ok || id == "" {
		return "", 0, plexus.Errorf(plexus.InvalidArgument, "delivery: the message has no ID (metadata %s)", MetadataID)
	}
	if err := checkID(id); err != nil {
		return "", 0, err
	}
	hex, ok := md[MetadataMethod]
	if !ok || hex == "" {
		return "", 0, plexus.Errorf(plexus.InvalidArgument, "delivery: message %s names no method (metadata %s)", id, MetadataMethod)
	}
	// A 64-bit ID is at most 16 hex digits; a longer value is refused
	// before it is parsed.
	if len(hex) > 16 {
		return "", 0, plexus.Errorf(plexus.InvalidArgument, "delivery: message %s: method %q is not a 64-bit hex number", id, hex[:16]+"...")
	}
	method, perr := strconv.ParseUint(hex, 16, 64)
	if perr != nil {
		return "", 0, plexus.Errorf(plexus.InvalidArgument, "delivery: message %s: method %q is not a 64-bit hex number", id, hex)
	}
	return id, method, nil
}

// checkID refuses an ID that is too long or not printable ASCII (IDs are
// kept, logged, and written to files by stores, one per line).
func checkID(id string) error {
	if len(id) > MaxIDLen {
		return plexus.Errorf(plexus.InvalidArgument, "delivery: message ID of %d bytes exceeds %d", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return plexus.Errorf(plexus.InvalidArgument, "delivery: message ID %q has a byte %#02x that is not printable ASCII", id, c)
		}
	}
	return nil
}
