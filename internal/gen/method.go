package gen

import (
	"fmt"
	"go/types"
)

const streamHelp = "a stream is func(T) error for what the handler sends, func() (T, error) for what it receives, last among the parameters (both: the receiving one first)"

// newMethod reads fn's signature into a method: its kind, what it takes,
// returns and streams, and where a lease is. The checks run in the order
// of the signature, so that the first fault in it is the one reported.
func newMethod(fn *types.Func, notify bool) (*method, error) {
	sig := fn.Type().(*types.Signature)
	if err := checkFrame(sig); err != nil {
		return nil, err
	}
	m := &method{name: fn.Name(), kind: kUnary}
	leaseParam, err := m.addParams(sig.Params())
	if err != nil {
		return nil, err
	}
	leaseResult, err := m.addResults(sig.Results())
	if err != nil {
		return nil, err
	}
	if err := m.setKind(notify, sig.Results()); err != nil {
		return nil, err
	}
	if err := m.checkLeases(leaseParam, leaseResult); err != nil {
		return nil, err
	}
	return m, nil
}

// checkFrame checks what every method has: a fixed number of
// parameters, the first a context.Context, and an error as its last
// result.
func checkFrame(sig *types.Signature) error {
	ps, rs := sig.Params(), sig.Results()
	switch {
	case sig.Variadic():
		return fmt.Errorf("variadic methods are not supported")
	case ps.Len() == 0 || !isNamed(ps.At(0).Type(), "context", "Context"):
		return fmt.Errorf("the first parameter must be a context.Context")
	case rs.Len() == 0 || !isError(rs.At(rs.Len()-1).Type()):
		return fmt.Errorf("the last result must be an error")
	}
	return nil
}

// addParams reads the parameters after the context: plain values, then
// the streams, which must come last. It returns the position of the last
// lease among the plain values, or 0 for none.
func (m *method) addParams(ps *types.Tuple) (lease int, err error) {
	nplain := ps.Len() // the position of the first stream
	for i := 1; i < ps.Len(); i++ {
		t := ps.At(i).Type()
		fs, isFunc := t.Underlying().(*types.Signature)
		switch {
		case isFunc:
			nplain = min(nplain, i)
			err = m.addStream(i, t, fs)
		case nplain < ps.Len():
			err = fmt.Errorf("parameter %d (%s) follows a stream: %s", i, short(t), streamHelp)
		default:
			if isLease(t) {
				lease = i
			}
			err = m.addParam(i, t)
		}
		if err != nil {
			return 0, err
		}
	}
	return lease, nil
}

// addParam adds the plain parameter t at position i. A lease is not a
// codec type: checkLeases judges where it is.
func (m *method) addParam(i int, t types.Type) error {
	if !isLease(t) {
		if err := supported(t); err != nil {
			return fmt.Errorf("parameter %d: %w", i, err)
		}
	}
	m.params = append(m.params, t)
	return nil
}

// addStream adds the stream func t (of signature fs) at position i: at
// most one of each direction, the receiving one first.
func (m *method) addStream(i int, t types.Type, fs *types.Signature) error {
	elem, dir := streamFunc(fs)
	switch {
	case dir == 0:
		return fmt.Errorf("parameter %d: %s is not a stream: %s", i, short(t), streamHelp)
	case dir == dirDown && m.down == nil:
		m.down = elem
	case dir == dirUp && m.up == nil && m.down == nil:
		m.up = elem
	default:
		return fmt.Errorf("parameter %d: %s: %s", i, short(t), streamHelp)
	}
	if isLease(elem) {
		return nil // each message is a lease of its own
	}
	if err := supported(elem); err != nil {
		return fmt.Errorf("parameter %d: stream of %w", i, err)
	}
	return nil
}

// addResults reads the results before the error. It returns the
// position of the last lease among them, or -1 for none.
func (m *method) addResults(rs *types.Tuple) (lease int, err error) {
	lease = -1
	for i := 0; i < rs.Len()-1; i++ {
		t := rs.At(i).Type()
		if isLease(t) {
			lease = i
		} else if err := supported(t); err != nil {
			return -1, fmt.Errorf("result %d: %w", i, err)
		}
		m.results = append(m.results, t)
	}
	return lease, nil
}

// setKind sets m's kind from its streams, or to a notification when it is
// marked one, and checks the results that kind allows (rs is the whole
// result list, for messages).
func (m *method) setKind(notify bool, rs *types.Tuple) error {
	switch {
	case notify:
		if err := m.checkNotify(rs); err != nil {
			return err
		}
		m.kind = kNotification
	case m.up != nil && m.down != nil:
		m.kind = kBidiStream
	case m.down != nil:
		m.kind = kServerStream
	case m.up != nil:
		m.kind = kClientStream
	}
	if (m.kind == kServerStream || m.kind == kBidiStream) && len(m.results) > 0 {
		return fmt.Errorf("a method whose handler streams returns only an error, not %s: send the rest as messages", rs)
	}
	return nil
}

// checkNotify checks a method marked //plexus:notify: a notification is
// one message with no answer, so it neither streams nor returns values.
func (m *method) checkNotify(rs *types.Tuple) error {
	if m.up != nil || m.down != nil {
		return fmt.Errorf("//plexus:notify: a notification cannot stream")
	}
	if len(m.results) > 0 {
		return fmt.Errorf("//plexus:notify: a notification returns only an error (whether it was sent), not %s", rs)
	}
	return nil
}

// leaseAlone says why a lease must be alone: it is the message itself.
const leaseAlone = "the lease is the whole message, sent as it is without a tuple around it (leases beside other values are not supported: put them in the lease's bytes, or make two calls)"

// checkLeases applies the rule of doc.go's "Leases" to the positions of a
// lease among the parameters (0: none) and the results (-1: none).
func (m *method) checkLeases(param, result int) error {
	streams := m.up != nil || m.down != nil
	switch {
	case param > 0 && streams:
		return fmt.Errorf("parameter %d: a *session.Lease cannot be an argument of a streaming method (its arguments travel as a tuple in the call's first frame): stream it as a message instead", param)
	case param > 0 && len(m.params) > 1:
		return fmt.Errorf("parameter %d: a *session.Lease must be the only argument of %s after the context: %s", param, m.name, leaseAlone)
	case result >= 0 && m.kind != kUnary:
		return fmt.Errorf("result %d: a *session.Lease can be the result of a unary method only (a client streaming method's results travel as a tuple): return it from a unary method or stream it", result)
	case result >= 0 && len(m.results) > 1:
		return fmt.Errorf("result %d: a *session.Lease must be the only result of %s before the error: %s", result, m.name, leaseAlone)
	}
	m.leaseArgs = param > 0
	m.leaseResults = result >= 0
	return nil
}

const (
	dirUp   = 1 // func() (T, error): the handler receives T
	dirDown = 2 // func(T) error: the handler sends T
)

func streamFunc(fs *types.Signature) (types.Type, int) {
	p, r := fs.Params(), fs.Results()
	switch {
	case fs.Variadic():
	case p.Len() == 1 && r.Len() == 1 && isError(r.At(0).Type()):
		return p.At(0).Type(), dirDown
	case p.Len() == 0 && r.Len() == 2 && isError(r.At(1).Type()):
		return r.At(0).Type(), dirUp
	}
	return nil, 0
}
