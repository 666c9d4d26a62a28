package session

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/stretchr/testify/require"
)

func pair(t *testing.T, hostMux, pluginMux *Mux) (host, plugin *Session) {
	a, b := inproc.Pipe(inproc.Config{})
	log := hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: testWriter{t}})
	host = New(a, Config{Role: Initiator, Mux: hostMux, Logger: log.Named("host")})
	plugin = New(b, Config{Role: Acceptor, Mux: pluginMux, Logger: log.Named("plugin")})
	t.Cleanup(func() { host.Close(); plugin.Close() })
	return host, plugin
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func TestSmokeUnaryBothWays(t *testing.T) {
	mux := NewMux()
	echo, err := mux.HandleUnary("test.Echo", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		md := plexus.IncomingMetadata(ctx)
		require.NoError(t, SetTrailer(ctx, plexus.Metadata{"seen": md["trace"]}))
		return plexus.Raw(append([]byte("echo:"), req...)), nil
	})
	require.NoError(t, err)
	host, plugin := pair(t, mux, mux)
	for _, s := range []*Session{host, plugin} {
		var resp plexus.Raw
		var trailer plexus.Metadata
		ctx := plexus.WithMetadata(context.Background(), plexus.Metadata{"trace": "t-1"})
		ctx = plexus.WithResponseMetadata(ctx, &trailer)
		require.NoError(t, s.Invoke(ctx, echo, plexus.Raw("hi"), &resp))
		require.Equal(t, "echo:hi", string(resp))
		require.Equal(t, "t-1", trailer["seen"])
	}
}

func TestSmokeErrors(t *testing.T) {
	mux := NewMux()
	fail, _ := mux.HandleUnary("test.S", "Fail", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		return nil, plexus.Errorf(plexus.NotFound, "no %s", req)
	})
	boom, _ := mux.HandleUnary("test.S", "Boom", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		panic("kaboom")
	})
	host, _ := pair(t, nil, mux)
	ctx := context.Background()
	err := host.Invoke(ctx, fail, plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrNotFound)
	require.ErrorContains(t, err, "no x")
	err = host.Invoke(ctx, boom, plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrInternal)
	require.ErrorContains(t, err, "kaboom")
	err = host.Invoke(ctx, plexus.MethodID("test.S", "Nope"), plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.ErrorContains(t, err, "unknown method")
	err = host.Invoke(ctx, plexus.MethodID("test.Other", "Nope"), plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.ErrorContains(t, err, "unknown service")
	// The link survived all of that.
	require.ErrorIs(t, host.Invoke(ctx, fail, plexus.Raw("y"), nil), plexus.ErrNotFound)
}

func TestSmokeStreams(t *testing.T) {
	mux := NewMux()
	count, _ := mux.HandleStream("test.S", "Count", func(ctx context.Context, st *Stream) error {
		var req plexus.Raw
		if err := st.Recv(&req); err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(req))
		for i := range n {
			if err := st.Send(plexus.Raw(strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	})
	sum, _ := mux.HandleStream("test.S", "Sum", func(ctx context.Context, st *Stream) error {
		total := 0
		for {
			var m plexus.Raw
			err := st.Recv(&m)
			if err == io.EOF {
				return st.Send(plexus.Raw(strconv.Itoa(total)))
			}
			if err != nil {
				return err
			}
			v, _ := strconv.Atoi(string(m))
			total += v
		}
	})
	host, _ := pair(t, nil, mux)
	ctx := context.Background()

	st, err := host.NewStream(ctx, count, plexus.Raw("100000"), true)
	require.NoError(t, err)
	for i := range 100000 {
		var m plexus.Raw
		require.NoError(t, st.Recv(&m))
		require.Equal(t, strconv.Itoa(i), string(m))
	}
	require.Equal(t, io.EOF, st.Recv(nil))

	st, err = host.NewStream(ctx, sum, nil, false)
	require.NoError(t, err)
	for i := range 1000 {
		require.NoError(t, st.Send(plexus.Raw(strconv.Itoa(i))))
	}
	require.NoError(t, st.CloseSend())
	var m plexus.Raw
	require.NoError(t, st.Recv(&m))
	require.Equal(t, "499500", string(m))
	require.Equal(t, io.EOF, st.Recv(nil))
}

func TestSmokeCancelAndDeadline(t *testing.T) {
	mux := NewMux()
	seen := make(chan error, 1)
	block, _ := mux.HandleUnary("test.S", "Block", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		<-ctx.Done()
		seen <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	host, _ := pair(t, nil, mux)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := host.Invoke(ctx, block, plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrDeadlineExceeded)
	select {
	case <-seen:
	case <-time.After(2 * time.Second):
		t.Fatal("the handler's context was not cancelled at the deadline")
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	err = host.Invoke(ctx, block, plexus.Raw("x"), nil)
	require.ErrorIs(t, err, plexus.ErrCanceled)
	select {
	case cause := <-seen:
		require.True(t, errors.Is(cause, plexus.ErrCanceled), "cause %v", cause)
	case <-time.After(2 * time.Second):
		t.Fatal("cancellation did not reach the handler")
	}
}

func TestSmokePeerDeath(t *testing.T) {
	mux := NewMux()
	started := make(chan struct{}, 100)
	block, _ := mux.HandleUnary("test.S", "Block", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	host, plugin := pair(t, nil, mux)
	errs := make(chan error, 10)
	for range 10 {
		go func() { errs <- host.Invoke(context.Background(), block, plexus.Raw("x"), nil) }()
	}
	for range 10 {
		<-started
	}
	plugin.Close()
	for range 10 {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, plexus.ErrPeerDied)
		case <-time.After(2 * time.Second):
			t.Fatal("a call did not fail when the peer died")
		}
	}
}
