package session

import (
	"context"
	"fmt"

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
	name   string
	kind   handlerKind
	unary  UnaryHandler
	stream StreamHandler
	notify NotifyHandler
}

// Mux maps method IDs to handlers. Register everything before the session
// that serves the Mux starts; lookups are not synchronised with writes.
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
	h.name = service + "." + method
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

// lookup finds a handler; the string says precisely what is missing.
func (m *Mux) lookup(id uint64) (*handler, string) {
	if m == nil {
		return nil, fmt.Sprintf("unknown service %#08x: this side serves no services", plexus.ServiceOf(id))
	}
	if h, ok := m.methods[id]; ok {
		return h, ""
	}
	if svc, ok := m.services[plexus.ServiceOf(id)]; ok {
		return nil, fmt.Sprintf("unknown method %#x of service %s", id, svc)
	}
	return nil, fmt.Sprintf("unknown service %#08x", plexus.ServiceOf(id))
}
