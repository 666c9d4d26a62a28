package wire

import (
	"bytes"
	"testing"

	"github.com/plexus-ipc/plexus"
)

// FuzzParseMD: any bytes either parse into a bounded metadata map or fail
// as a protocol violation.
func FuzzParseMD(f *testing.F) {
	f.Add(AppendMetadata(nil, plexus.Metadata{"trace": "abc", "k": ""}))
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{1, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		md, rest, err := ParseMetadata(b)
		if err != nil {
			if plexus.CodeOf(err) != plexus.ProtocolViolation {
				t.Fatalf("error outside the contract: %v", err)
			}
			return
		}
		if len(md) > MaxMetadataEntries || len(rest) > len(b) {
			t.Fatalf("limits not enforced: %d entries", len(md))
		}
		again, _, err := ParseMetadata(AppendMetadata(nil, md))
		if err != nil || len(again) != len(md) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}

// FuzzParseStatusBody: any bytes either parse into a status whose message
// and details came from them, or fail as a protocol violation; a parsed
// status encodes back to the same bytes.
func FuzzParseStatusBody(f *testing.F) {
	f.Add(AppendStatusBody(nil, &plexus.Status{Code: plexus.NotFound, Message: "no such key", Details: []byte{1, 2}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{3, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStatusBody(plexus.Internal, b)
		if err != nil {
			if plexus.CodeOf(err) != plexus.ProtocolViolation {
				t.Fatalf("error outside the contract: %v", err)
			}
			return
		}
		if st.Code != plexus.Internal || len(st.Message)+len(st.Details)+4 != len(b) {
			t.Fatalf("parsed %+v from %d bytes", st, len(b))
		}
		if again := AppendStatusBody(nil, st); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding gives %x, not %x", again, b)
		}
	})
}
