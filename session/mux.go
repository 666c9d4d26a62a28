package session

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/plexus-ipc/plexus"
)

// UnaryHandler serves a unary call. req is a view of the received payload:
// it stays valid until the response has been encoded, so the response may
// be (part of) req, but not after the handler returns otherwise.
type UnaryHandler func(ctx context.Context, req []byte) (plexus.Marshaler, error)

// StreamHandler serves a streaming call of any shape; returning ends it
// with the returned error's status (OK for nil).
type StreamHandler func(ctx context.Context, st *Stream) error

// NotifyHandler receives a one-way message, valid until it returns.
type NotifyHandler func(ctx context.Context, msg []byte)

type handlerKind int

const (
	kindUnaryHandler handlerKind = iota + 1
	kindStreamHandler
	kindNotifyHandler
)

type handler struct {
	name            string // service + "." + method
	service, method string
	kind            handlerKind
	unary           UnaryHandler
	stream          StreamHandler
	notify          NotifyHandler

	// desc is the method's description once Describe gave one; nil:
	// registered by hand, its types unknown here (signature 0).
	desc *plexus.MethodDesc

	// cost is what a call of a unary handler has recently cost (see
	// inline.go).
	cost handlerCost
}

// Mux maps method IDs to handlers. Register everything before the session
// that serves the Mux starts; lookups are not synchronised with writes.
//
// A Mux can also describe what it serves (Services), for a link-time
// check by the peer's side: handlers carry no types, so a service's
// signature hashes are known only once Describe was given its
// description (generated code's XServiceDesc).
type Mux struct {
	methods  map[uint64]*handler
	services map[uint32]string
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{methods: map[uint64]*handler{}, services: map[uint32]string{}}
}

// HandleUnary registers a unary method and returns its ID.
func (m *Mux) HandleUnary(service, method string, h UnaryHandler) (uint64, error) {
	return m.add(service, method, &handler{kind: kindUnaryHandler, unary: h})
}

// HandleStream registers a streaming method and returns its ID.
func (m *Mux) HandleStream(service, method string, h StreamHandler) (uint64, error) {
	return m.add(service, method, &handler{kind: kindStreamHandler, stream: h})
}

// HandleNotify registers a notification and returns its ID.
func (m *Mux) HandleNotify(service, method string, h NotifyHandler) (uint64, error) {
	return m.add(service, method, &handler{kind: kindNotifyHandler, notify: h})
}

func (m *Mux) add(service, method string, h *handler) (uint64, error) {
	id := plexus.MethodID(service, method)
	h.name, h.service, h.method = service+"."+method, service, method
	if prev, ok := m.services[plexus.ServiceOf(id)]; ok && prev != service {
		return 0, fmt.Errorf("plexus: service %q collides with %q (same 32-bit service hash); rename one", service, prev)
	}
	if prev, ok := m.methods[id]; ok {
		return 0, fmt.Errorf("plexus: method %s collides with %s (same method ID %#x)", h.name, prev.name, id)
	}
	m.services[plexus.ServiceOf(id)] = service
	m.methods[id] = h
	return id, nil
}

// Describe records desc, the description of a service whose handlers are
// registered on m already (generated code's XServiceDesc, after its
// RegisterX), so that Services lists its methods' signature hashes: a
// plugin that declares the host services it calls is then checked against
// them at link time (plugin.ServeConfig.HostServices), as a host checks
// the plugin's services. Every method of desc must be registered, with a
// handler of its kind (a kind left zero is not checked), and its ID, if
// set, must be plexus.MethodID(desc.Name, method): a description that is
// not true of the handlers is refused, since the peer would trust it.
// Registered methods that desc does not list stay undescribed. Like
// registration, Describe must happen before the session that serves m
// starts.
func (m *Mux) Describe(desc plexus.ServiceDesc) error {
	hs := make([]*handler, len(desc.Methods))
	for i, md := range desc.Methods {
		id := plexus.MethodID(desc.Name, md.Name)
		if md.ID != 0 && md.ID != id {
			return fmt.Errorf("plexus: describing %s: method %s has ID %#x, its name gives %#x", desc.Name, md.Name, md.ID, id)
		}
		h := m.methods[id]
		if h == nil || h.service != desc.Name || h.method != md.Name {
			return fmt.Errorf("plexus: describing %s: method %s is not registered (register the service, with its RegisterX, before describing it)",
				desc.Name, md.Name)
		}
		if md.Kind != 0 && handlerKindOf(md.Kind) != h.kind {
			return fmt.Errorf("plexus: describing %s: method %s is described as %s but registered as %s",
				desc.Name, md.Name, handlerKindOf(md.Kind), h.kind)
		}
		hs[i] = h
	}
	for i, h := range hs {
		d := desc.Methods[i]
		d.ID = plexus.MethodID(desc.Name, d.Name)
		if d.Kind == 0 {
			d.Kind = methodKindOf(h.kind)
		}
		h.desc = &d
	}
	return nil
}

// Services describes what m serves: every registered service and method,
// in name order, with the signature hashes Describe recorded; a method
// registered without a description has signature 0, which a link-time
// check takes as "present, types unknown" (and its kind is that of its
// handler, a stream handler counting as BidiStream). A nil Mux serves
// nothing.
func (m *Mux) Services() []plexus.ServiceDesc {
	if m == nil {
		return nil
	}
	names := m.serviceNames()
	out := make([]plexus.ServiceDesc, len(names))
	at := make(map[string]int, len(names))
	for i, name := range names {
		out[i].Name = name
		at[name] = i
	}
	for id, h := range m.methods {
		d := plexus.MethodDesc{Name: h.method, ID: id, Kind: methodKindOf(h.kind)}
		if h.desc != nil {
			d = *h.desc
		}
		s := &out[at[h.service]]
		s.Methods = append(s.Methods, d)
	}
	for i := range out {
		slices.SortFunc(out[i].Methods, func(a, b plexus.MethodDesc) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// serviceNames returns the names of m's services in order.
func (m *Mux) serviceNames() []string {
	names := make([]string, 0, len(m.services))
	for _, n := range m.services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func handlerKindOf(k plexus.MethodKind) handlerKind {
	switch k {
	case plexus.Unary:
		return kindUnaryHandler
	case plexus.Notification:
		return kindNotifyHandler
	case plexus.ServerStream, plexus.ClientStream, plexus.BidiStream:
		return kindStreamHandler
	}
	return 0
}

func (k handlerKind) String() string {
	switch k {
	case kindUnaryHandler:
		return "unary"
	case kindStreamHandler:
		return "a stream"
	case kindNotifyHandler:
		return "a notification"
	}
	return "an unknown kind"
}

func methodKindOf(k handlerKind) plexus.MethodKind {
	switch k {
	case kindUnaryHandler:
		return plexus.Unary
	case kindNotifyHandler:
		return plexus.Notification
	}
	return plexus.BidiStream // a stream handler serves every stream shape
}

// maxNamesShown bounds the names an unknown-service or -method error
// lists.
const maxNamesShown = 8

// lookup finds a handler; the string says precisely what is missing.
func (m *Mux) lookup(id uint64) (*handler, string) {
	if m != nil {
		if h, ok := m.methods[id]; ok {
			return h, ""
		}
	}
	return nil, m.unknown(id)
}

// unknown says what is missing for a method ID this side does not serve.
// The caller knows only the ID, and this side never learnt the name
// behind an ID it does not serve, so an unknown service or method is
// named by its ID; the message lists what this side does serve instead,
// which usually shows what differs (a renamed service or method, or one
// the peer's build has and this side's lacks). Building that list costs a
// pass over the Mux, on this failure path only.
func (m *Mux) unknown(id uint64) string {
	if m == nil || len(m.methods) == 0 {
		return fmt.Sprintf("unknown service %#08x: this side serves no services", plexus.ServiceOf(id))
	}
	if svc, ok := m.services[plexus.ServiceOf(id)]; ok {
		var names []string
		for _, h := range m.methods {
			if h.service == svc {
				names = append(names, h.method)
			}
		}
		slices.Sort(names)
		return fmt.Sprintf("unknown method %#x of service %s (it has %s)", id, svc, shown(names))
	}
	return fmt.Sprintf("unknown service %#08x: this side serves %s", plexus.ServiceOf(id), shown(m.serviceNames()))
}

// shown joins up to maxNamesShown names, saying how many more there are.
func shown(names []string) string {
	out := strings.Join(names[:min(len(names), maxNamesShown)], ", ")
	if n := len(names) - maxNamesShown; n > 0 {
		out += fmt.Sprintf(" and %d more", n)
	}
	return out
}

// Notification returns the handler registered for the notification id,
// its name ("service.method"), and whether there is one: for a layer
// that delivers notifications itself (package delivery's acknowledged
// ones run the handler the application registered, then acknowledge).
// Like lookups, it must not race with registration.
func (m *Mux) Notification(id uint64) (NotifyHandler, string, bool) {
	if m == nil {
		return nil, "", false
	}
	h := m.methods[id]
	if h == nil || h.kind != kindNotifyHandler {
		return nil, "", false
	}
	return h.notify, h.name, true
}
