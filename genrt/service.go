package genrt

import (
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Service is an implemented service, as a plugin serves it: either its
// Methods, each with a handler, or a service of generated code (see
// Generated), whose description the link handshake sends as generated and
// whose Register adds its handlers.
//
// Applications know it as plugin.Service, which is this type. It is
// declared here rather than in package plugin so that generated code can
// return it (NewXService, ready for plugin.ServeConfig.Versions): package
// plugin's own tests import generated packages, so a generated package
// cannot import plugin without a cycle, while genrt is imported by both.
type Service struct {
	Name    string
	Methods []Method

	// Description, if set, is the service's description as generated
	// code declares it (the XServiceDesc variable): the handshake sends
	// its methods and signature hashes, so that a host built from another
	// version of the interface is refused at link time. Methods must then
	// be empty and Register set.
	Description *plexus.ServiceDesc
	// Register adds the service's handlers to the plugin's Mux (generated
	// code's RegisterX, bound to the implementation).
	Register func(*session.Mux) error
}

// Method is one implemented method: its description and exactly one
// handler. Applications know it as plugin.Method.
type Method struct {
	Name      string
	Signature uint64
	// Idempotent: a unary method that may be run again for a retry
	// (plexus.MethodDesc.Idempotent); its repeats are answered from the
	// serving side's session.IdempotencyCache.
	Idempotent bool
	Unary      session.UnaryHandler
	Stream     session.StreamHandler
	Notify     session.NotifyHandler
}

// Generated returns a Service for a service of generated code, described
// by desc and registered by register (plugin.Generated is this function;
// generated NewXService functions call it). desc is copied, so that the
// Service does not change with the variable it came from; register is
// called once, before the link serves calls.
func Generated(desc plexus.ServiceDesc, register func(*session.Mux) error) Service {
	d := desc
	d.Methods = append([]plexus.MethodDesc(nil), desc.Methods...)
	return Service{Name: desc.Name, Description: &d, Register: register}
}

// Desc returns the service's description: Description if set, otherwise
// one derived from Methods.
func (s Service) Desc() plexus.ServiceDesc {
	if s.Description != nil {
		return *s.Description
	}
	d := plexus.ServiceDesc{Name: s.Name}
	for _, m := range s.Methods {
		kind := plexus.BidiStream // the handler serves every stream shape
		switch {
		case m.Unary != nil:
			kind = plexus.Unary
		case m.Notify != nil:
			kind = plexus.Notification
		}
		d.Methods = append(d.Methods, plexus.MethodDesc{Name: m.Name, ID: plexus.MethodID(s.Name, m.Name), Kind: kind,
			Signature: m.Signature, Idempotent: m.Idempotent && kind == plexus.Unary})
	}
	return d
}
