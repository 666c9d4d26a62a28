package stream_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/transport/stream/streamnet"
	"github.com/plexus-ipc/plexus/transport/stream/streamtls"
	"github.com/plexus-ipc/plexus/wire"
)

// A client that fails the TLS handshake must not end the accept loop: the
// listener skips it and hands out the next, good link. (Package streamtls's
// tests are these: they need this package's helpers.)
func TestListenTLSSkipsFailedHandshake(t *testing.T) {
	server, client := tlsConfigs(t)
	ln, err := streamtls.Listen("127.0.0.1:0", server, stream.Config{})
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan *stream.Transport, 1)
	go func() {
		tr, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- tr
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = streamtls.Dial(ctx, ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13}, stream.Config{})
	require.Error(t, err, "a client without the root must not connect")

	c, err := streamtls.Dial(ctx, ln.Addr().String(), client, stream.Config{})
	require.NoError(t, err)
	defer c.Close()
	var s *stream.Transport
	select {
	case s = <-accepted:
		require.NotNil(t, s, "Accept failed")
	case <-ctx.Done():
		t.Fatal("Accept did not return")
	}
	defer s.Close()
	_, isTLS := s.Conn().(*tls.Conn)
	require.True(t, isTLS)

	require.NoError(t, c.Send(new(wire.Desc), []byte("over tls")))
	var f transport.Frame
	require.NoError(t, s.Recv(&f))
	require.Equal(t, []byte("over tls"), f.Payload)
	s.Release(&f)
}

func TestListenerClose(t *testing.T) {
	ln, err := streamnet.Listen("tcp", "127.0.0.1:0", stream.Config{})
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	require.NoError(t, ln.Close())
	select {
	case err := <-errc:
		require.Error(t, err)
	case <-time.After(time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}
