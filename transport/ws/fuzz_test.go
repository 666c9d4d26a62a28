package ws

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coder/websocket"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/internal/bufpool"
	"github.com/plexus-ipc/plexus/wire"
)

// fuzzMax keeps lengths the fuzzer can reach both below and above the
// limit without megabyte allocations per input.
const fuzzMax = 1 << 12

// FuzzDecodeFrame feeds arbitrary messages to the frame decoder. Whatever
// the input, it must not panic, must read no more than one descriptor plus
// the limit plus one byte, must accept exactly the messages that classify
// (the rules written out independently) accepts, must refuse the others
// with the close code classify names and a reason a close frame can carry,
// and every frame it returns must be the message's bytes.
func FuzzDecodeFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, text bool, data []byte) {
		typ := websocket.MessageBinary
		if text {
			typ = websocket.MessageText
		}
		d := decoder{max: fuzzMax}
		r := &countingReader{r: bytes.NewReader(data)}
		var fr transport.Frame
		v, err := d.decode(typ, r, &fr)
		if err != nil {
			t.Fatalf("a bytes.Reader cannot fail, got %v", err)
		}
		if r.n > wire.DescSize+fuzzMax+1 {
			t.Fatalf("read %d bytes of a message; at most %d may be read", r.n, wire.DescSize+fuzzMax+1)
		}
		want := classify(text, data, fuzzMax)
		if v != nil {
			checkViolation(t, v)
			if fr.Payload != nil {
				t.Fatalf("a refused message left a payload")
			}
			if v.code != want {
				t.Fatalf("refused with %v (%s); want %v", v.code, v.reason, want)
			}
			return
		}
		if want != 0 {
			t.Fatalf("accepted a message that must be refused with %v", want)
		}
		n := int(fr.Desc.Length())
		switch {
		case n != len(fr.Payload):
			t.Fatalf("Length %d, payload %d bytes", n, len(fr.Payload))
		case !bytes.Equal(fr.Desc[:], data[:wire.DescSize]):
			t.Fatalf("descriptor differs from the message")
		case !bytes.Equal(fr.Payload, data[wire.DescSize:]):
			t.Fatalf("payload differs from the message")
		}
		bufpool.Put(fr.Payload)
	})
}

// classify is the close code a receiver must send for a message, or 0 if
// the message is a valid frame: the package comment's rules, checked in
// the order SPEC.md gives them.
func classify(text bool, data []byte, max int) websocket.StatusCode {
	if text {
		return websocket.StatusUnsupportedData
	}
	if len(data) < wire.DescSize {
		return websocket.StatusPolicyViolation
	}
	var d wire.Desc
	copy(d[:], data)
	if d.Reserved() != 0 || d.Flags()&0x0f != 0 || !bytes.Equal(data[36:64], make([]byte, 28)) {
		return websocket.StatusPolicyViolation
	}
	n := int(d.Length())
	if n > max || len(data) > wire.DescSize+max {
		return websocket.StatusMessageTooBig
	}
	if len(data) != wire.DescSize+n {
		return websocket.StatusPolicyViolation
	}
	return 0
}

// checkViolation checks what the peer will read in the close frame and
// what Recv reports.
func checkViolation(t *testing.T, v *violation) {
	t.Helper()
	switch v.code {
	case websocket.StatusPolicyViolation, websocket.StatusMessageTooBig, websocket.StatusUnsupportedData:
	default:
		t.Fatalf("close code %v", v.code)
	}
	if v.reason == "" || len(v.reason) > maxReason {
		t.Fatalf("reason of %d bytes: %q", len(v.reason), v.reason)
	}
	for _, c := range []byte(v.reason) {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("reason is not printable ASCII: %q", v.reason)
		}
	}
	if st := v.status(); !errors.Is(st, plexus.ErrProtocolViolation) {
		t.Fatalf("status %v is not a protocol violation", st)
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
