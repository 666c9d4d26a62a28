package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
	"github.com/plexus-ipc/plexus/plexustest"
	"github.com/plexus-ipc/plexus/retry"
	"github.com/plexus-ipc/plexus/session"
)

// flaky is a kvtest.Store whose Get and Put fail with UNAVAILABLE while
// failures remain, and whose Get of "missing" returns the declared
// application error. It records the idempotency key of every run.
type flaky struct {
	mu       sync.Mutex
	failures int
	getKeys  []string
	puts     int
}

func (f *flaky) fail() bool {
	if f.failures > 0 {
		f.failures--
		return true
	}
	return false
}

func (f *flaky) Get(ctx context.Context, key string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getKeys = append(f.getKeys, plexus.IncomingMetadata(ctx)[session.IdempotencyKey])
	switch {
	case key == "missing":
		return nil, &kvtest.NotFoundError{Key: key}
	case f.fail():
		return nil, plexus.Errorf(plexus.Unavailable, "busy")
	}
	return []byte("value of " + key), nil
}

func (f *flaky) Put(context.Context, string, []byte, time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	if f.fail() {
		return plexus.Errorf(plexus.Unavailable, "busy")
	}
	return nil
}

func (f *flaky) Lookup(context.Context, []string, map[string]int64) ([]kvtest.Entry, map[string]bool, error) {
	return nil, nil, nil
}

func (f *flaky) Stamp(context.Context, time.Time, *int32, kvtest.Priority, kvtest.Blob, [][]byte, map[uint16]*kvtest.Entry) (time.Time, *kvtest.Entry, []kvtest.Priority, error) {
	return time.Time{}, nil, nil, nil
}

func (f *flaky) Ping(context.Context) error { return nil }

// TestGeneratedClientOverSession: a generated client over a Conn over a
// real session pair: the idempotent Get is retried with one key that
// reaches the handler on both runs, Put is not retried, and Get's
// application error comes back as its Go type after one run.
func TestGeneratedClientOverSession(t *testing.T) {
	impl := &flaky{}
	conn, err := retry.NewConn(plexustest.Pair(t, kvtest.NewStoreService(impl)), retry.Config{
		Services: []plexus.ServiceDesc{kvtest.StoreServiceDesc},
		Default:  retry.Policy{InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
	})
	require.NoError(t, err)
	store := kvtest.NewStoreClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	impl.failures = 1
	v, err := store.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, "value of a", string(v))
	require.Len(t, impl.getKeys, 2)
	require.Regexp(t, `^[0-9a-f]{32}$`, impl.getKeys[0])
	require.Equal(t, impl.getKeys[0], impl.getKeys[1], "both runs saw the call's key")

	impl.failures = 1
	err = store.Put(ctx, "a", []byte("v"), 0)
	require.True(t, errors.Is(err, plexus.ErrUnavailable), "%v", err)
	require.Equal(t, 1, impl.puts, "Put is not idempotent: not run again")

	_, err = store.Get(ctx, "missing")
	var nf *kvtest.NotFoundError
	require.ErrorAs(t, err, &nf)
	require.Equal(t, "missing", nf.Key)
	require.Len(t, impl.getKeys, 3, "an application error is not retried")
}
