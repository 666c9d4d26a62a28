//go:build !js

package ws_test

import (
	"context"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/transport/stream/streamnet"
	"github.com/plexus-ipc/plexus/transport/ws"
)

// streamTCPPair is the stream transport over TCP on 127.0.0.1: what the
// WebSocket is measured against, the same kernel path without the HTTP
// upgrade and the WebSocket framing.
func streamTCPPair(b *testing.B) (transport.Transport, transport.Transport) {
	ln, err := streamnet.Listen("tcp", "127.0.0.1:0", stream.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		tr  *stream.Transport
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		tr, err := ln.Accept()
		ch <- accepted{tr, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := streamnet.Dial(ctx, "tcp", ln.Addr().String(), stream.Config{})
	if err != nil {
		b.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		b.Fatal(a.err)
	}
	b.Cleanup(func() { _ = d.Close(); _ = a.tr.Close() })
	return d, a.tr
}

// BenchmarkUnaryRoundTrip: one small unary call (a 16-byte echo) through
// two sessions in this process, over a WebSocket on loopback TCP and over
// the stream transport on loopback TCP.
func BenchmarkUnaryRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name string
		pair func(*testing.B) (transport.Transport, transport.Transport)
	}{
		{"ws", func(b *testing.B) (transport.Transport, transport.Transport) { return dialPair(b, ws.Config{}) }},
		{"stream-tcp", streamTCPPair},
	} {
		b.Run(c.name, func(b *testing.B) {
			client, server := c.pair(b)
			mux := session.NewMux()
			echoID, err := mux.HandleUnary("bench.S", "Echo", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
				return plexus.Raw(req), nil
			})
			if err != nil {
				b.Fatal(err)
			}
			srv := session.New(server, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
			cli := session.New(client, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
			b.Cleanup(func() { _ = cli.Close(); _ = srv.Close() })
			var req plexus.Marshaler = plexus.Raw("0123456789abcdef") // boxed once, as in session's benchmark
			var resp plexus.Raw
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := cli.Invoke(ctx, echoID, req, &resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
