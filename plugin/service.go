package plugin

import (
	"fmt"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/genrt"
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
type Method = genrt.Method

// Service is an implemented service: either its Methods, each with a
// handler, or a generated service, whose description the handshake sends
// as generated and whose Register adds its handlers. Generated code makes
// one in a single call, NewXService(impl), for the service X:
//
//	plugin.ServeConfig{Versions: map[uint32][]plugin.Service{
//		1: {calc.NewCalculatorService(impl)},
//	}}
//
// It is genrt.Service, declared there so that generated code can return
// it without importing this package (whose tests import generated
// packages); its fields and Desc method are documented there.
type Service = genrt.Service

// Generated returns a Service for a service of generated code, as
// NewXService does; it is the form for code written before generated code
// had NewXService:
//
//	plugin.Generated(calc.CalculatorServiceDesc, func(m *session.Mux) error {
//		return calc.RegisterCalculator(m, impl)
//	})
//
// desc is copied; register is called once, before the link serves calls.
func Generated(desc ServiceDesc, register func(*session.Mux) error) Service {
	return genrt.Generated(desc, register)
}

// NewMux returns a Mux that serves services as Run serves them once the
// link is up (without the plugin's reserved service), after the same
// checks: for a session of one's own, such as the in-process pairs of
// package plexustest. More may be registered on it before its session
// starts, as on any Mux, and nothing after.
func NewMux(services ...Service) (*session.Mux, error) {
	m := session.NewMux()
	if err := register(m, services); err != nil {
		return nil, err
	}
	return m, nil
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
		// Described, as a generated service is, so that the Mux knows
		// the signatures and which methods are idempotent.
		if err := m.Describe(s.Desc()); err != nil {
			return fmt.Errorf("plugin: describing %s: %w", s.Name, err)
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
	// Recorded, so that the Mux can say what it serves with signatures
	// (a host's HostServices built by NewMux is checked against what its
	// plugins declare).
	if err := m.Describe(*s.Description); err != nil {
		return fmt.Errorf("plugin: describing %s: %w", s.Name, err)
	}
	return nil
}
