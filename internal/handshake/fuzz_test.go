package handshake

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/plexus-ipc/plexus"
)

// FuzzDecode: whatever a peer sends, Decode either refuses it or returns
// a message that re-encodes to the same bytes (so nothing was skipped or
// invented) and passed validation.
func FuzzDecode(f *testing.F) {
	h, _ := sampleHello().Marshal()
	r, _ := sampleReply().Marshal()
	r3, _ := sampleReplyV3().Marshal()
	f.Add(h)
	f.Add(r)
	f.Add(r3)
	f.Add(MarshalAccept())
	f.Add((&Reject{Code: 66, Message: "versions"}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		var out []byte
		switch m.Type {
		case TypeHello:
			out, err = m.Hello.Marshal()
		case TypeReply:
			out, err = m.Reply.Marshal()
		case TypeAccept:
			out = MarshalAccept()
		case TypeReject:
			out = m.Reject.Marshal()
		}
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, out)
		}
	})
}

// FuzzParseEnv: an accepted variable round-trips through String.
func FuzzParseEnv(f *testing.F) {
	f.Add("fds=3-8;proto=1-1;versions=1,2;host=4242")
	f.Add("fds=3-8;proto=1-2;versions=7;host=2")
	f.Add("fds=3-3;proto=2-3;versions=1;host=4242;link=socket")
	f.Add("dial=unix:/tmp/x/s;nonce=0123456789abcdef0123456789abcdef;proto=2-3;versions=1;host=4242;link=socket")
	f.Add("link=socket;host=4242;versions=1,2;proto=2-3;nonce=0123456789abcdef0123456789abcdef;dial=tcp:127.0.0.1:4000")
	f.Add("fds=3-3;dial=unix:/s;nonce=0123456789abcdef0123456789abcdef;proto=2-3;versions=1;host=4242;link=socket")
	f.Add("dial=unix:/s;proto=2-3;versions=1;host=4242;link=socket")
	f.Add("fds=3-3;proto=2-3;versions=1;host=4242;link=shm")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEnv(s)
		if err != nil {
			return
		}
		again, err := ParseEnv(e.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", s, e.String(), err)
		}
		if again.String() != e.String() {
			t.Fatalf("round trip changed %q to %q", e.String(), again.String())
		}
	})
}

// FuzzReadFrame: whatever bytes a peer writes, ReadFrame either returns
// exactly the message its length announces (1 to MaxMessage bytes) having
// consumed the length and the message and nothing more, or refuses: a
// length out of bounds after reading only the length (ProtocolViolation),
// a stream that ends early after reading all of it (PeerDied).
func FuzzReadFrame(f *testing.F) {
	h, _ := sampleHello().Marshal()
	f.Add(binary.BigEndian.AppendUint32(nil, uint32(len(h))))
	f.Add(append(binary.BigEndian.AppendUint32(nil, uint32(len(h))), h...))
	f.Add(append(binary.BigEndian.AppendUint32(nil, uint32(len(h))), h[:len(h)-1]...))
	f.Add(append(binary.BigEndian.AppendUint32(nil, 3), "PXHSnext"...))
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{0, 1, 0, 1, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		b, err := ReadFrame(r)
		consumed := len(in) - r.Len()
		if len(in) < 4 {
			if !errors.Is(err, plexus.ErrPeerDied) || b != nil {
				t.Fatalf("%d bytes, less than a length: got %d bytes, %v; want PeerDied", len(in), len(b), err)
			}
			return
		}
		n := int(binary.BigEndian.Uint32(in))
		switch {
		case n == 0 || n > MaxMessage:
			if !errors.Is(err, plexus.ErrProtocolViolation) || b != nil {
				t.Fatalf("length %d: got %d bytes, %v; want ProtocolViolation", n, len(b), err)
			}
			if consumed != 4 {
				t.Fatalf("length %d refused after reading %d bytes, want 4", n, consumed)
			}
		case len(in)-4 < n:
			if !errors.Is(err, plexus.ErrPeerDied) || b != nil {
				t.Fatalf("length %d, %d bytes follow: got %d bytes, %v; want PeerDied", n, len(in)-4, len(b), err)
			}
		default:
			if err != nil {
				t.Fatalf("length %d, %d bytes follow: %v", n, len(in)-4, err)
			}
			if !bytes.Equal(b, in[4:4+n]) {
				t.Fatalf("length %d: got %d bytes, not the %d announced", n, len(b), n)
			}
			if consumed != 4+n {
				t.Fatalf("length %d: consumed %d bytes, want %d", n, consumed, 4+n)
			}
		}
	})
}
