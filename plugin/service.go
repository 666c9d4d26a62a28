package plugin

import (
	"fmt"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/session"
)

// ServiceDesc and MethodDesc describe a service as host and plugin must
// agree on it (the root package's types, which generated code emits): the
// handshake compares every method's ID (plexus.MethodID(service, method))
// and signature hash, and fails at link time naming the method that
// differs. A zero ID is taken as plexus.MethodID(service, method).
type (
	ServiceDesc = plexus.ServiceDesc
	MethodDesc  = plexus.MethodDesc
)

func methodID(service string, m MethodDesc) uint64 {
	if m.ID != 0 {
		return m.ID
	}
	return plexus.MethodID(service, m.Name)
}

// wire converts descriptions to their handshake form.
func wire(ds []ServiceDesc) []handshake.Service {
	out := make([]handshake.Service, len(ds))
	for i, d := range ds {
		out[i].Name = d.Name
		for _, m := range d.Methods {
			out[i].Methods = append(out[i].Methods, handshake.Method{Name: m.Name, ID: methodID(d.Name, m), Signature: m.Signature})
		}
	}
	return out
}

// Method is one implemented method: its description and exactly one
// handler.
type Method struct {
	Name      string
	Signature uint64
	Unary     session.UnaryHandler
	Stream    session.StreamHandler
	Notify    session.NotifyHandler
}

// Service is an implemented service.
type Service struct {
	Name    string
	Methods []Method
}

// Desc returns the service's description.
func (s Service) Desc() ServiceDesc {
	d := ServiceDesc{Name: s.Name}
	for _, m := range s.Methods {
		kind := plexus.BidiStream // the handler serves every stream shape
		switch {
		case m.Unary != nil:
			kind = plexus.Unary
		case m.Notify != nil:
			kind = plexus.Notification
		}
		d.Methods = append(d.Methods, MethodDesc{Name: m.Name, ID: plexus.MethodID(s.Name, m.Name), Kind: kind, Signature: m.Signature})
	}
	return d
}

// reservedService carries the link's own methods (the host's shutdown
// notice); applications may not use the name.
const reservedService = "plexus.Link"

// register adds every method of set to m.
func register(m *session.Mux, set []Service) error {
	for _, s := range set {
		if s.Name == reservedService {
			return fmt.Errorf("plugin: service name %s is reserved", reservedService)
		}
		for _, meth := range s.Methods {
			n := 0
			var err error
			if meth.Unary != nil {
				n++
				_, err = m.HandleUnary(s.Name, meth.Name, meth.Unary)
			}
			if meth.Stream != nil {
				n++
				_, err = m.HandleStream(s.Name, meth.Name, meth.Stream)
			}
			if meth.Notify != nil {
				n++
				_, err = m.HandleNotify(s.Name, meth.Name, meth.Notify)
			}
			if n != 1 {
				return fmt.Errorf("plugin: method %s.%s must have exactly one handler, has %d", s.Name, meth.Name, n)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
