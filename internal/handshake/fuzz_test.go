package handshake

import (
	"bytes"
	"testing"
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
