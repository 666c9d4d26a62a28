package codec

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/plexus-ipc/plexus"
	"github.com/tinylib/msgp/msgp"
)

// An application error crosses the link as a *plexus.Status with Code
// ApplicationError, its Error() text as the Message, and Details holding a
// two-element array: the error's registered name (str) and its own msgp
// encoding. The receiving side looks the name up in its registry, decodes
// the payload into a new value of the registered type and returns that
// value, so errors.As works on the caller's side as it would have on the
// handler's. Everything here runs on the error path only.

// Named is implemented by application error types that name themselves;
// types registered with RegisterErrorType need not.
type Named interface {
	ErrorName() string
}

var registry struct {
	sync.RWMutex
	byName map[string]func() error
	byType map[reflect.Type]string
}

// RegisterError registers the factory of the application error called
// name. The factory returns a new zero value (normally a pointer) that
// implements msgp.Unmarshaler; it is what DecodeError returns. Names are
// global to the process: use "package.Type" or "service.Error". It panics
// on an empty or duplicate name or a factory whose value cannot decode
// itself, since registration happens at init time.
func RegisterError(name string, factory func() error) {
	registerError(name, factory, nil)
}

// RegisterErrorType registers *T as the application error called name,
// for types that do not implement Named: the encoding side finds the name
// by type.
func RegisterErrorType[T any, PT interface {
	*T
	error
	msgp.Marshaler
	msgp.Unmarshaler
}](name string) {
	registerError(name, func() error { return PT(new(T)) }, reflect.TypeFor[PT]())
}

// EnsureErrorType is RegisterErrorType for generated code: registering
// the same type under the same name again is a no-op, since several
// services, in several packages, may declare the same error type and each
// generated file registers what its services declare. A name already
// taken by another type, or the type under another name, still panics.
func EnsureErrorType[T any, PT interface {
	*T
	error
	msgp.Marshaler
	msgp.Unmarshaler
}](name string) {
	t := reflect.TypeFor[PT]()
	registry.Lock()
	factory, dup := registry.byName[name]
	prev, typed := registry.byType[t]
	if dup && reflect.TypeOf(factory()) == t && (!typed || prev == name) {
		if !typed {
			registry.byType[t] = name
		}
		registry.Unlock()
		return
	}
	registry.Unlock()
	if typed && prev != name {
		panic(fmt.Sprintf("codec: %v is registered as application error %q, not %q", t, prev, name))
	}
	registerError(name, func() error { return PT(new(T)) }, t)
}

func registerError(name string, factory func() error, t reflect.Type) {
	if name == "" {
		panic("codec: RegisterError with an empty name")
	}
	if _, ok := factory().(msgp.Unmarshaler); !ok {
		panic(fmt.Sprintf("codec: RegisterError(%q): %T does not implement msgp.Unmarshaler", name, factory()))
	}
	registry.Lock()
	defer registry.Unlock()
	if registry.byName == nil {
		registry.byName = map[string]func() error{}
		registry.byType = map[reflect.Type]string{}
	}
	if _, dup := registry.byName[name]; dup {
		panic(fmt.Sprintf("codec: application error %q registered twice", name))
	}
	registry.byName[name] = factory
	if t != nil {
		registry.byType[t] = name
	}
}

// errorName finds the wire name of an application error value.
func errorName(err error) (string, bool) {
	if n, ok := err.(Named); ok {
		return n.ErrorName(), true
	}
	registry.RLock()
	name, ok := registry.byType[reflect.TypeOf(err)]
	registry.RUnlock()
	return name, ok
}

// EncodeError prepares a handler's error for the link. An application
// error (anywhere in err's chain: a value that implements msgp.Marshaler
// and is Named or registered by type) becomes a *plexus.Status with Code
// ApplicationError carrying it; any other error, statuses included, is
// returned unchanged for the session to convert.
func EncodeError(err error) error {
	if err == nil {
		return nil
	}
	var st *plexus.Status
	if errors.As(err, &st) {
		return err
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		m, ok := e.(msgp.Marshaler)
		if !ok {
			continue
		}
		name, ok := errorName(e)
		if !ok {
			continue
		}
		b := AppendArrayHeader(nil, 2)
		b = AppendString(b, name)
		b, merr := m.MarshalMsg(b)
		if merr != nil {
			return plexus.WithCause(plexus.Internal, merr, fmt.Sprintf("encoding application error %s: %v", name, merr))
		}
		return &plexus.Status{Code: plexus.ApplicationError, Message: err.Error(), Details: b}
	}
	return err
}

// DecodeError turns a status that carries a registered application error
// back into that error's Go type. Anything else (a nil error, other codes,
// an unknown name, details that do not decode) is returned unchanged, so
// the caller still sees a *plexus.Status with the message.
func DecodeError(err error) error {
	var st *plexus.Status
	if !errors.As(err, &st) || st.Code != plexus.ApplicationError || len(st.Details) == 0 {
		return err
	}
	name, payload, ok := splitDetails(st.Details)
	if !ok {
		return err
	}
	registry.RLock()
	factory := registry.byName[name]
	registry.RUnlock()
	if factory == nil {
		return err
	}
	v := factory()
	d := NewDecoder(payload, Limits{})
	if derr := d.ReadMsg(v.(msgp.Unmarshaler)); derr != nil || d.Finish() != nil {
		return err
	}
	return v
}

// ApplicationErrorName returns the registered name an application error
// status carries, for logs and for callers that did not register it.
func ApplicationErrorName(st *plexus.Status) (string, bool) {
	if st == nil || st.Code != plexus.ApplicationError {
		return "", false
	}
	name, _, ok := splitDetails(st.Details)
	return name, ok
}

func splitDetails(b []byte) (name string, payload []byte, ok bool) {
	d := NewDecoder(b, Limits{})
	if n, err := d.ArrayHeader(); err != nil || n != 2 {
		return "", nil, false
	}
	name, err := d.String()
	if err != nil {
		return "", nil, false
	}
	payload, err = d.Raw()
	if err != nil || d.Finish() != nil {
		return "", nil, false
	}
	return name, payload, true
}
