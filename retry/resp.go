package retry

import "github.com/plexus-ipc/plexus"

// guard stands for the caller's response in the attempts of a call that
// may be retried after reaching the peer, and notes whether an attempt
// decoded into it. A Conn does not promise to leave resp untouched when
// a call fails (session.Invoke decodes before it knows the call
// succeeded: a response that fails to decode, or a second one, fails the
// call after resp was written), and a Retainer resp may already hold the
// failed attempt's frame; a retry decoding over either would mix two
// attempts, so a touched response ends the retries (Unrepeatable).
// Decoding into a copy instead would cost every call a copy of its
// response and lose the zero-copy views of Retainer responses.
type guard struct {
	resp    plexus.Unmarshaler
	touched bool // written by the Conn's decode, which runs before Invoke returns
}

func (g *guard) UnmarshalMsg(b []byte) ([]byte, error) {
	g.touched = true
	return g.resp.UnmarshalMsg(b)
}

// retainGuard is guard for a Retainer resp: the session looks for
// Retainer on the value it is given, so the guard must have the method
// exactly when the caller's response has it.
type retainGuard struct{ guard }

func (g *retainGuard) Retain(release func()) { g.resp.(plexus.Retainer).Retain(release) }

// guarded returns the value to pass to the attempts in place of resp and
// the guard that tells whether it was written; nil for a nil resp, which
// nothing decodes into.
func guarded(resp plexus.Unmarshaler) (plexus.Unmarshaler, *guard) {
	switch resp.(type) {
	case nil:
		return nil, nil
	case plexus.Retainer:
		g := &retainGuard{guard{resp: resp}}
		return g, &g.guard
	}
	g := &guard{resp: resp}
	return g, g
}
