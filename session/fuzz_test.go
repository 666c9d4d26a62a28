package session

import (
	"context"
	"encoding/binary"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/wire"
)

// fuzzMux serves every handler shape, so that random OPENs reach real
// handlers: a unary echo, a stream echo, a blocking call and a notify.
func fuzzMux() (*Mux, []uint64) {
	m := NewMux()
	var ids []uint64
	id, _ := m.HandleUnary("fuzz.S", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(req), nil
	})
	ids = append(ids, id)
	id, _ = m.HandleStream("fuzz.S", "Stream", func(ctx context.Context, st *Stream) error {
		for range 16 {
			var msg plexus.Raw
			if err := st.Recv(&msg); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			if err := st.Send(msg); err != nil {
				return err
			}
		}
		return nil
	})
	ids = append(ids, id)
	id, _ = m.HandleUnary("fuzz.S", "Block", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	ids = append(ids, id)
	id, _ = m.HandleNotify("fuzz.S", "Note", func(ctx context.Context, msg []byte) {})
	ids = append(ids, id)
	return m, append(ids, plexus.MethodID("fuzz.S", "Missing"), plexus.MethodID("fuzz.Nope", "X"))
}

// FuzzSessionFrames drives a live session with an arbitrary sequence of
// frames from a raw peer. Each 12-byte group of the input is one frame:
// kind, flags, channel selector, method selector, aux, credit and payload
// length. Whatever the sequence, the session must not panic, must end
// within a bound once the peer closes, and must leave no goroutine behind.
func FuzzSessionFrames(f *testing.F) {
	f.Add([]byte{})
	// OPEN Echo with a message, then PING.
	f.Add([]byte{1, 0x50, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	// OPEN Stream, DATA, DATA(END), CREDIT, RESET.
	f.Add([]byte{1, 0x00, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0,
		2, 0x40, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0,
		2, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		5, 0x00, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0,
		4, 0x00, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0})
	// OPEN Stream, then DATA(MSG|PACKED) with two records of one byte each
	// (the payload generator below makes them from the group's bytes),
	// then DATA(END): the receiver's cursor splits a packed frame.
	f.Add([]byte{1, 0x00, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0,
		2, 0xc0, 1, 1, 1, 0, 2, 4, 0, 0, 6, 0,
		2, 0xc0, 1, 1, 1, 0, 2, 4, 0, 0, 6, 0,
		2, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	// A channel frame for a channel never opened.
	f.Add([]byte{2, 0x40, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	// Metadata flag with a garbage block, GOAWAY, NOTIFY.
	f.Add([]byte{1, 0x70, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0x40, 0, 3, 0, 0, 0, 0, 0, 0, 2, 0})

	mux, methods := fuzzMux()
	f.Fuzz(func(t *testing.T, prog []byte) {
		start := time.Now()
		defer func() {
			if el := time.Since(start); el > time.Second {
				t.Fatalf("input took %v: a session must end promptly", el)
			}
		}()
		base := runtime.NumGoroutine()
		raw, b := inproc.Pipe(inproc.Config{QueueLen: 64, MaxPayload: 1 << 16})
		s := New(b, Config{Role: Acceptor, Mux: mux, KeepaliveIdle: -1})

		// Drain what the session sends so that it never blocks on a full
		// queue; stop when the raw side is closed.
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			var fr transport.Frame
			for raw.Recv(&fr) == nil {
				raw.Release(&fr)
			}
		}()

		var d wire.Desc
		payload := make([]byte, 0, 1<<12)
		for i := 0; i+12 <= len(prog) && i < 12*256; i += 12 {
			g := prog[i : i+12]
			d.Reset()
			d.SetKind(wire.Kind(g[0] % uint8(wire.KindMax+2)))
			d.SetFlags(g[1] &^ 0x0f) // transport bits are the transport's
			// Channels from a small set, with both parities, so that
			// opens, reuse and frames on open channels all happen.
			d.SetChannel(uint64(g[2] % 12))
			d.SetMethod(methods[int(g[3])%len(methods)])
			d.SetAux(uint64(binary.LittleEndian.Uint16(g[4:])) * uint64(time.Millisecond) / 64)
			d.SetCredit(binary.LittleEndian.Uint32(g[6:]) >> 8)
			n := int(binary.LittleEndian.Uint16(g[10:])) % 300
			payload = payload[:n]
			for k := range payload {
				payload[k] = g[(k+3)%12] ^ byte(k)
			}
			if raw.Send(&d, payload) != nil {
				break
			}
		}
		raw.Close()
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session did not end after its peer closed")
		}
		<-drained
		s.srv.handlers.Wait()
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(time.Millisecond)
		}
	})
}
