package stream_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/plexus-ipc/plexus/wire"
)

// fuzzMax keeps lengths the fuzzer can reach both below and above the
// limit without megabyte allocations per input.
const fuzzMax = 1 << 12

// FuzzStreamDecode feeds arbitrary bytes to Recv. Whatever the input, Recv
// must not panic or hang, must fail only with ErrProtocolViolation or
// ErrPeerDied, and every frame it returns must be exactly the next bytes of
// the input: a valid descriptor followed by Length payload bytes.
func FuzzStreamDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := stream.New(&byteConn{r: bytes.NewReader(data)}, stream.Config{MaxPayload: fuzzMax})
		defer tr.Close()
		rest := data
		// Every frame consumes at least a descriptor, so the input bounds
		// the loop; the +1 is the call that reports the end.
		for range len(data)/wire.DescSize + 1 {
			var fr transport.Frame
			err := tr.Recv(&fr)
			if err != nil {
				if !errors.Is(err, plexus.ErrProtocolViolation) && !errors.Is(err, plexus.ErrPeerDied) {
					t.Fatalf("unexpected error class: %v", err)
				}
				if fr.Payload != nil {
					t.Fatalf("failed Recv left a payload")
				}
				return
			}
			n := int(fr.Desc.Length())
			switch {
			case n != len(fr.Payload):
				t.Fatalf("Length %d, payload %d bytes", n, len(fr.Payload))
			case n > fuzzMax:
				t.Fatalf("payload of %d bytes exceeds %d", n, fuzzMax)
			case fr.Desc.Flags()&0x0f != 0 || fr.Desc.Reserved() != 0:
				t.Fatalf("accepted reserved bits: %x", fr.Desc[:])
			case len(rest) < wire.DescSize+n:
				t.Fatalf("frame of %d bytes from %d remaining input bytes", wire.DescSize+n, len(rest))
			case !bytes.Equal(fr.Desc[:], rest[:wire.DescSize]):
				t.Fatalf("descriptor differs from the input")
			case !bytes.Equal(fr.Payload, rest[wire.DescSize:wire.DescSize+n]):
				t.Fatalf("payload differs from the input")
			}
			if !bytes.Equal(fr.Desc[wire.InlineOffset:], make([]byte, wire.DescSize-wire.InlineOffset)) {
				t.Fatalf("accepted nonzero bytes 36..63")
			}
			rest = rest[wire.DescSize+n:]
			tr.Release(&fr)
		}
		t.Fatalf("Recv returned more frames than the input holds")
	})
}

// byteConn is a net.Conn that reads a fixed input and then reports EOF,
// as a peer that wrote it and closed would.
type byteConn struct {
	r      *bytes.Reader
	closed bool
}

func (c *byteConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *byteConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

func (c *byteConn) Close() error                     { c.closed = true; return nil }
func (c *byteConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (c *byteConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (c *byteConn) SetDeadline(time.Time) error      { return nil }
func (c *byteConn) SetReadDeadline(time.Time) error  { return nil }
func (c *byteConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "bytes" }
func (fakeAddr) String() string  { return "bytes" }
