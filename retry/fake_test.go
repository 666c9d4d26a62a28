package retry

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Methods of the fake service: get is described idempotent, put not.
const svcName = "retrytest.Svc"

var (
	getID = plexus.MethodID(svcName, "Get")
	putID = plexus.MethodID(svcName, "Put")

	services = []plexus.ServiceDesc{{Name: svcName, Methods: []plexus.MethodDesc{
		{Name: "Get", Kind: plexus.Unary, Idempotent: true},
		{Name: "Put", Kind: plexus.Unary},
	}}}
)

// step is what the fake does at one attempt: decode, if set, is written
// into the response before err is returned.
type step struct {
	err    error
	decode string
}

// record is one attempt as the fake saw it.
type record struct {
	at     time.Time
	shape  string // "invoke", "stream", "notify"
	method uint64
	md     plexus.Metadata // a copy of the outgoing metadata
	req    plexus.Marshaler
}

// fakeConn is a scripted session.Conn: each attempt takes the next step
// of steps (success decoding "ok" once they run out), or asks script if
// set, and is recorded.
type fakeConn struct {
	mu      sync.Mutex
	steps   []step
	script  func(r record) step // if set, used instead of steps
	records []record
}

func (f *fakeConn) attempt(ctx context.Context, shape string, method uint64, req plexus.Marshaler) step {
	r := record{at: time.Now(), shape: shape, method: method, md: maps.Clone(plexus.OutgoingMetadata(ctx)), req: req}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, r)
	if f.script != nil {
		return f.script(r)
	}
	if len(f.steps) == 0 {
		return step{decode: "ok"}
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	return s
}

func (f *fakeConn) Invoke(ctx context.Context, method uint64, req plexus.Marshaler, resp plexus.Unmarshaler) error {
	s := f.attempt(ctx, "invoke", method, req)
	if s.decode != "" && resp != nil {
		if _, err := resp.UnmarshalMsg([]byte(s.decode)); err != nil {
			return err
		}
		if r, ok := resp.(plexus.Retainer); ok {
			r.Retain(func() {})
		}
	}
	return s.err
}

func (f *fakeConn) NewStream(ctx context.Context, method uint64, first plexus.Marshaler, _ bool) (*session.Stream, error) {
	if s := f.attempt(ctx, "stream", method, first); s.err != nil {
		return nil, s.err
	}
	return new(session.Stream), nil // never used: the tests only see that one came back
}

func (f *fakeConn) Notify(ctx context.Context, method uint64, m plexus.Marshaler) error {
	return f.attempt(ctx, "notify", method, m).err
}

// attempts returns the attempts recorded so far.
func (f *fakeConn) attempts() []record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]record(nil), f.records...)
}

// Errors as the session and its peer give them.
func notSent() error {
	return plexus.WithCause(plexus.PeerDied, session.ErrNotSent, "plugin exited")
}
func peerDied() error    { return plexus.Errorf(plexus.PeerDied, "plugin exited") }
func unavailable() error { return plexus.Errorf(plexus.Unavailable, "try later") }

// sleeps records the backoffs a Conn asks for without waiting them.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return nil
}

func (s *sleeps) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	s.d = nil
	return d
}
