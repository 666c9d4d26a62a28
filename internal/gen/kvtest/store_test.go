package kvtest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/stretchr/testify/require"
)

// memStore is the implementation the tests serve.
type memStore struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (s *memStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	if !ok {
		return nil, &NotFoundError{Key: key}
	}
	return v, nil
}

func (s *memStore) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return plexus.Errorf(plexus.InvalidArgument, "negative ttl %v", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[key] = bytes.Clone(value) // value is a view into the request
	return nil
}

func (s *memStore) Lookup(ctx context.Context, keys []string, opts map[string]int64) ([]Entry, map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	found := map[string]bool{}
	for _, k := range keys {
		v, ok := s.data[k]
		found[k] = ok
		if ok && int64(len(out)) < opts["limit"] {
			out = append(out, Entry{Key: k, Value: v, Tags: []string{"t"}})
		}
	}
	return out, found, nil
}

func (s *memStore) Stamp(ctx context.Context, at time.Time, p *int32, pri Priority, raw Blob, nested [][]byte, byID map[uint16]*Entry) (time.Time, *Entry, []Priority, error) {
	e := &Entry{Key: string(raw), Value: bytes.Join(nested, []byte{'|'})}
	if p != nil {
		e.Tags = append(e.Tags, "p")
	}
	for id, v := range byID {
		if v != nil {
			e.Tags = append(e.Tags, v.Key+":"+string(rune('0'+id)))
		}
	}
	return at.Add(time.Hour), e, []Priority{pri, pri * 2}, nil
}

func (s *memStore) Ping(ctx context.Context) error { return nil }

// link serves impl on one end of an in-process session pair and returns
// a client on the other end.
func link(t *testing.T, impl Store) (*StoreClient, *session.Session) {
	mux := session.NewMux()
	require.NoError(t, RegisterStore(mux, impl))
	a, b := inproc.Pipe(inproc.Config{})
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	host := session.New(a, session.Config{Role: session.Initiator, Logger: log})
	plugin := session.New(b, session.Config{Role: session.Acceptor, Mux: mux, Logger: log})
	t.Cleanup(func() { host.Close(); plugin.Close() })
	return NewStoreClient(host), host
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func TestGeneratedUnaryCalls(t *testing.T) {
	impl := &memStore{data: map[string][]byte{}}
	c, _ := link(t, impl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	require.NoError(t, c.Ping(ctx))
	require.NoError(t, c.Put(ctx, "a", []byte("alpha"), time.Minute))
	require.NoError(t, c.Put(ctx, "b", []byte{}, 0))
	v, err := c.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, []byte("alpha"), v)

	entries, found, err := c.Lookup(ctx, []string{"a", "zz", "b"}, map[string]int64{"limit": 1})
	require.NoError(t, err)
	require.Equal(t, []Entry{{Key: "a", Value: []byte("alpha"), Tags: []string{"t"}}}, entries)
	require.Equal(t, map[string]bool{"a": true, "zz": false, "b": true}, found)

	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	p := int32(-7)
	when, e, pris, err := c.Stamp(ctx, at, &p, 3, Blob("raw"), [][]byte{[]byte("x"), nil, []byte("y")},
		map[uint16]*Entry{1: {Key: "k"}, 2: nil})
	require.NoError(t, err)
	require.True(t, at.Add(time.Hour).Equal(when))
	require.Equal(t, "raw", e.Key)
	require.Equal(t, []byte("x||y"), e.Value)
	require.ElementsMatch(t, []string{"p", "k:1"}, e.Tags)
	require.Equal(t, []Priority{3, 6}, pris)
}

func TestGeneratedErrors(t *testing.T) {
	c, host := link(t, &memStore{data: map[string][]byte{}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// An application error comes back as its own type.
	_, err := c.Get(ctx, "missing")
	var nf *NotFoundError
	require.True(t, errors.As(err, &nf), "got %T: %v", err, err)
	require.Equal(t, "missing", nf.Key)

	// A status returned by the handler stays a status.
	err = c.Put(ctx, "k", nil, -time.Second)
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	require.Contains(t, err.Error(), "negative ttl")

	// Arguments of the wrong shape fail with InvalidArgument and a precise
	// codec error, before the implementation runs.
	bad := codec.AppendArrayHeader(nil, 3)
	bad = codec.AppendInt64(codec.AppendInt64(codec.AppendInt64(bad, 1), 2), 3)
	err = host.Invoke(ctx, plexus.MethodID(StoreService, "Get"), plexus.Raw(bad), nil)
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	require.Contains(t, err.Error(), "Store.Get: codec: array of 3 elements where 1 were expected at offset 0")
	hostile := []byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 0}
	err = host.Invoke(ctx, plexus.MethodID(StoreService, "Get"), plexus.Raw(hostile), nil)
	require.ErrorIs(t, err, plexus.ErrInvalidArgument)
	require.Contains(t, err.Error(), "str of 4294967295 bytes declared with 1 bytes left at offset 1")
}

// TestArgumentViews shows that a []byte argument reaches the handler as
// a view of the request payload, not a copy made by the generated code.
func TestArgumentViews(t *testing.T) {
	var args store_Put_args
	b, err := (&store_Put_args{a0: "k", a1: []byte("value"), a2: time.Second}).MarshalMsg(nil)
	require.NoError(t, err)
	var d codec.Decoder
	d.Reset(b, codec.Limits{})
	require.NoError(t, args.DecodePlexus(&d))
	require.Same(t, &b[bytes.Index(b, []byte("value"))], &args.a1[0], "server side decodes a view")
	var copied store_Put_args
	_, err = copied.UnmarshalMsg(b)
	require.NoError(t, err)
	require.Equal(t, []byte("value"), copied.a1)
	require.NotSame(t, &b[bytes.Index(b, []byte("value"))], &copied.a1[0], "UnmarshalMsg copies")
}

// TestUnknownServiceNamed: calling a service the other side does not
// serve fails with UNIMPLEMENTED naming the method called, not only the
// service's hex ID, which is all the serving side knows.
func TestUnknownServiceNamed(t *testing.T) {
	a, b := inproc.Pipe(inproc.Config{})
	host := session.New(a, session.Config{Role: session.Initiator})
	plugin := session.New(b, session.Config{Role: session.Acceptor, Mux: session.NewMux()})
	t.Cleanup(func() { host.Close(); plugin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := NewStoreClient(host).Get(ctx, "k")
	require.Equal(t, plexus.Unimplemented, plexus.CodeOf(err))
	require.ErrorContains(t, err, "calling kvtest.Store.Get: unknown service")
}
