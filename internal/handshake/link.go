package handshake

import (
	"slices"

	"github.com/plexus-ipc/plexus"
)

// What host and plugin share of the link protocol beyond the messages:
// the reserved service that carries the link's own methods, the handshake
// form of service descriptions, and the order of version lists. Both sides
// use these, so that they cannot drift apart.

// ReservedService carries the link's own methods; applications may not
// register a service of this name.
const ReservedService = "plexus.Link"

// ShutdownMethod is the host's notice, just before it closes the link,
// that the end of the link that follows is a close and not the host's
// death.
var ShutdownMethod = plexus.MethodID(ReservedService, "Shutdown")

// Wire converts service descriptions to their handshake form. A method ID
// left zero is plexus.MethodID(service, method).
func Wire(ds []plexus.ServiceDesc) []Service {
	out := make([]Service, len(ds))
	for i, d := range ds {
		out[i].Name = d.Name
		for _, m := range d.Methods {
			id := m.ID
			if id == 0 {
				id = plexus.MethodID(d.Name, m.Name)
			}
			out[i].Methods = append(out[i].Methods, Method{Name: m.Name, ID: id, Signature: m.Signature})
		}
	}
	return out
}

// Versions returns the keys of a version map in increasing order, the
// order HELLO and PLEXUS_PLUGIN carry them in.
func Versions[T any](m map[uint32]T) []uint32 {
	vs := make([]uint32, 0, len(m))
	for v := range m {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}
