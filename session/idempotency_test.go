package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// idemServer is a Mux with test.Idem.Do (idempotent: it counts its runs
// and answers with the run number, or the error its request names), and
// test.Idem.Plain (the same, not described idempotent).
type idemServer struct {
	runs  atomic.Int64
	gate  chan struct{} // if not nil, Do waits for it
	entry chan struct{} // Do signals here as it starts, if not nil
}

func (sv *idemServer) handler(_ context.Context, req []byte) (plexus.Marshaler, error) {
	n := sv.runs.Add(1)
	if sv.entry != nil {
		sv.entry <- struct{}{}
	}
	if sv.gate != nil {
		<-sv.gate
	}
	switch string(req) {
	case "notfound":
		return nil, plexus.Errorf(plexus.NotFound, "no %d", n)
	case "unavailable":
		return nil, plexus.Errorf(plexus.Unavailable, "busy %d", n)
	}
	return plexus.Raw(fmt.Sprintf("run %d", n)), nil
}

func idemPair(t *testing.T, sv *idemServer, cache *IdempotencyCache) *Session {
	m := NewMux()
	_, err := m.HandleUnary("test.Idem", "Do", sv.handler)
	require.NoError(t, err)
	_, err = m.HandleUnary("test.Idem", "Plain", sv.handler)
	require.NoError(t, err)
	require.NoError(t, m.Describe(plexus.ServiceDesc{Name: "test.Idem", Methods: []plexus.MethodDesc{
		{Name: "Do", Kind: plexus.Unary, Idempotent: true}, {Name: "Plain", Kind: plexus.Unary}}}))
	a, b := inproc.Pipe(inproc.Config{})
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}})
	c := New(a, Config{Role: Initiator, Logger: log})
	s := New(b, Config{Role: Acceptor, Mux: m, Logger: log, Idempotency: cache})
	t.Cleanup(func() { c.Close(); s.Close() })
	return c
}

var (
	idemDo    = plexus.MethodID("test.Idem", "Do")
	idemPlain = plexus.MethodID("test.Idem", "Plain")
)

// call calls method with the idempotency key (none if empty).
func call(c *Session, method uint64, key, req string) (string, error) {
	ctx := context.Background()
	if key != "" {
		ctx = plexus.WithMetadata(ctx, plexus.Metadata{IdempotencyKey: key})
	}
	var resp plexus.Raw
	err := c.Invoke(ctx, method, plexus.Raw(req), &resp)
	return string(resp), err
}

// TestIdempotencyCache: a repeated key is answered with the first result
// (a response or an application error) without running the handler; other
// keys, calls without one and methods not described idempotent run it; a
// result that says the call did not finish is not kept.
func TestIdempotencyCache(t *testing.T) {
	sv := &idemServer{}
	cache := NewIdempotencyCache(IdempotencyLimits{})
	c := idemPair(t, sv, cache)

	for range 3 {
		got, err := call(c, idemDo, "k1", "x")
		require.NoError(t, err)
		require.Equal(t, "run 1", got, "every repeat of k1 gets the first result")
	}
	got, err := call(c, idemDo, "k2", "x")
	require.NoError(t, err)
	require.Equal(t, "run 2", got)
	got, _ = call(c, idemDo, "", "x")
	require.Equal(t, "run 3", got, "no key: no cache")
	got, _ = call(c, idemPlain, "k1", "x")
	require.Equal(t, "run 4", got, "a method not described idempotent is not cached")
	got, _ = call(c, idemDo, strings.Repeat("k", 129), "x")
	require.Equal(t, "run 5", got, "an overlong key is not kept")

	_, err = call(c, idemDo, "nf", "notfound")
	require.ErrorContains(t, err, "no 6")
	_, err = call(c, idemDo, "nf", "notfound")
	require.True(t, errors.Is(err, &plexus.Status{Code: plexus.NotFound}), "%v", err)
	require.ErrorContains(t, err, "no 6", "an application error is kept and replayed")

	_, err = call(c, idemDo, "busy", "unavailable")
	require.ErrorContains(t, err, "busy 7")
	_, err = call(c, idemDo, "busy", "unavailable")
	require.ErrorContains(t, err, "busy 8", "UNAVAILABLE is not kept: the repeat runs")
	require.Equal(t, int64(8), sv.runs.Load())
	require.Equal(t, 3, cache.Len(), "k1, k2 and nf")
}

// TestIdempotencyConcurrentRepeat: a repeat that arrives while the first
// call runs waits for it and gets its result; the handler runs once.
func TestIdempotencyConcurrentRepeat(t *testing.T) {
	sv := &idemServer{gate: make(chan struct{}), entry: make(chan struct{}, 8)}
	c := idemPair(t, sv, NewIdempotencyCache(IdempotencyLimits{}))
	var wg sync.WaitGroup
	results := make([]string, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := call(c, idemDo, "same", "x")
			if err == nil {
				results[i] = got
			}
		}()
	}
	<-sv.entry
	time.Sleep(20 * time.Millisecond) // the repeats arrive and wait
	close(sv.gate)
	wg.Wait()
	require.Equal(t, []string{"run 1", "run 1", "run 1", "run 1"}, results)
	require.Equal(t, int64(1), sv.runs.Load())
}

// TestIdempotencyBounds: the oldest result goes when MaxEntries or
// MaxBytes is reached, and a result older than MaxAge is not answered
// with.
func TestIdempotencyBounds(t *testing.T) {
	sv := &idemServer{}
	cache := NewIdempotencyCache(IdempotencyLimits{MaxEntries: 2, MaxAge: 200 * time.Millisecond})
	c := idemPair(t, sv, cache)
	for _, k := range []string{"a", "b", "c"} {
		_, err := call(c, idemDo, k, "x")
		require.NoError(t, err)
	}
	require.Equal(t, 2, cache.Len())
	got, _ := call(c, idemDo, "a", "x")
	require.Equal(t, "run 4", got, "a was evicted by c")
	got, _ = call(c, idemDo, "c", "x")
	require.Equal(t, "run 3", got, "c is kept")
	time.Sleep(250 * time.Millisecond)
	got, _ = call(c, idemDo, "c", "x")
	require.Equal(t, "run 5", got, "c expired")

	small := NewIdempotencyCache(IdempotencyLimits{MaxBytes: 10})
	c2 := idemPair(t, &idemServer{}, small)
	for _, k := range []string{"a", "b", "c"} { // "run N" encodes to 5 bytes
		_, err := call(c2, idemDo, k, "x")
		require.NoError(t, err)
	}
	require.Equal(t, 2, small.Len(), "10 bytes hold two results")
}
