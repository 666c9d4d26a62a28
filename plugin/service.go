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

// Method is one implemented method: its description and exactly one
// handler.
type Method struct {
	Name      string
	Signature uint64
	Unary     session.UnaryHandler
	Stream    session.StreamHandler
	Notify    session.NotifyHandler
}

// Service is an implemented service: either its Methods, each with a
// handler, or a generated service (see Generated), whose description the
// handshake sends as generated and whose Register adds its handlers.
type Service struct {
	Name    string
	Methods []Method

	// Description, if set, is the service's description as generated
	// code declares it (the XServiceDesc variable): the handshake sends
	// its methods and signature hashes, so that a host built from another
	// version of the interface is refused at link time. Methods must then
	// be empty and Register set.
	Description *ServiceDesc
	// Register adds the service's handlers to the plugin's Mux (generated
	// code's RegisterX, bound to the implementation).
	Register func(*session.Mux) error
}

// Generated returns a Service for a service of generated code:
//
//	plugin.Generated(calc.CalculatorServiceDesc, func(m *session.Mux) error {
//		return calc.RegisterCalculator(m, impl)
//	})
//
// desc is copied; register is called once, before the link serves calls.
func Generated(desc ServiceDesc, register func(*session.Mux) error) Service {
	d := desc
	d.Methods = append([]MethodDesc(nil), desc.Methods...)
	return Service{Name: desc.Name, Description: &d, Register: register}
}

// Desc returns the service's description: Description if set, otherwise
// one derived from Methods.
func (s Service) Desc() ServiceDesc {
	if s.Description != nil {
		return *s.Description
	}
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

// register adds every method of set to m.
func register(m *session.Mux, set []Service) error {
	for _, s := range set {
		if s.Name == handshake.ReservedService {
			return fmt.Errorf("plugin: service name %s is reserved", handshake.ReservedService)
		}
		if s.Description != nil || s.Register != nil {
			if err := registerGenerated(m, s); err != nil {
				return err
			}
			continue
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

// registerGenerated checks a generated service's fields and runs its
// Register.
func registerGenerated(m *session.Mux, s Service) error {
	switch {
	case s.Description == nil:
		return fmt.Errorf("plugin: service %s has Register but no Description", s.Name)
	case s.Register == nil:
		return fmt.Errorf("plugin: service %s has a Description but no Register", s.Name)
	case len(s.Methods) != 0:
		return fmt.Errorf("plugin: service %s has both Methods and a generated Description", s.Name)
	case s.Description.Name != s.Name:
		return fmt.Errorf("plugin: service %s has the Description of %s", s.Name, s.Description.Name)
	}
	if err := s.Register(m); err != nil {
		return fmt.Errorf("plugin: registering %s: %w", s.Name, err)
	}
	return nil
}
