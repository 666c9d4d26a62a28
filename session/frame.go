package session

import (
	"encoding/binary"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/ring"
)

// Frame kinds (DESIGN.md "Session frames").
const (
	kindOpen   uint8 = 1
	kindData   uint8 = 2
	kindStatus uint8 = 3
	kindReset  uint8 = 4
	kindCredit uint8 = 5
	kindNotify uint8 = 6
	kindPing   uint8 = 7
	kindPong   uint8 = 8
	kindGoAway uint8 = 9
	kindMax          = kindGoAway
)

// Session flag bits (the upper nibble of the descriptor's flags byte).
const (
	flagEnd      uint8 = 1 << 4
	flagMD       uint8 = 1 << 5
	flagMsg      uint8 = 1 << 6
	flagPacked   uint8 = 1 << 7 // DATA with MSG only: the payload is several messages (see pack.go)
	sessionFlags       = flagEnd | flagMD | flagMsg | flagPacked
)

// Limits of the metadata block.
const (
	maxMDEntries = 64
	maxMDBytes   = 16 << 10
)

// frameCost is what a frame takes from flow-control windows. The fixed part
// makes empty messages cost something, so a peer cannot flood a receiver
// with frames that are free under the window.
func frameCost(payloadLen int) int64 { return int64(payloadLen) + ring.DescSize }

func carriesMessage(kind uint8) bool {
	return kind == kindOpen || kind == kindData || kind == kindStatus || kind == kindNotify
}

func newDesc(d *ring.Desc, kind uint8, channel uint64, flags uint8) {
	d.Reset()
	d.SetKind(kind)
	d.SetChannel(channel)
	d.SetFlags(flags)
}

// appendMD appends a metadata block. Callers check size with mdSize first.
func appendMD(b []byte, md plexus.Metadata) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(md)))
	for k, v := range md {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

func mdSize(md plexus.Metadata) (int, error) {
	if len(md) > maxMDEntries {
		return 0, plexus.Errorf(plexus.InvalidArgument, "metadata has %d entries, the limit is %d", len(md), maxMDEntries)
	}
	n := 2
	for k, v := range md {
		if err := checkMDKey(k); err != nil {
			return 0, err
		}
		n += 6 + len(k) + len(v)
	}
	if n > maxMDBytes {
		return 0, plexus.Errorf(plexus.InvalidArgument, "metadata of %d bytes exceeds the %d-byte limit", n, maxMDBytes)
	}
	return n, nil
}

func checkMDKey(k string) error {
	if k == "" || len(k) > 255 {
		return plexus.Errorf(plexus.InvalidArgument, "metadata key %q must be 1-255 bytes", k)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return plexus.Errorf(plexus.InvalidArgument, "metadata key %q is not printable ASCII", k)
		}
	}
	return nil
}

var (
	errMDTruncated = plexus.Errorf(plexus.ProtocolViolation, "metadata block truncated")
	errMDLimits    = plexus.Errorf(plexus.ProtocolViolation, "metadata block exceeds limits")
	errMDKey       = plexus.Errorf(plexus.ProtocolViolation, "metadata key invalid")
)

// parseMD decodes a metadata block from the peer and returns the rest of
// the payload. Counts and lengths are checked against the limits and the
// remaining bytes before anything is allocated.
func parseMD(b []byte) (plexus.Metadata, []byte, error) {
	if len(b) < 2 {
		return nil, nil, errMDTruncated
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n > maxMDEntries {
		return nil, nil, errMDLimits
	}
	start := len(b)
	b = b[2:]
	md := make(plexus.Metadata, n)
	for range n {
		if len(b) < 2 {
			return nil, nil, errMDTruncated
		}
		kl := int(binary.LittleEndian.Uint16(b))
		if len(b) < 2+kl+4 {
			return nil, nil, errMDTruncated
		}
		k := string(b[2 : 2+kl])
		if checkMDKey(k) != nil {
			return nil, nil, errMDKey
		}
		vl := binary.LittleEndian.Uint32(b[2+kl:])
		b = b[2+kl+4:]
		if uint64(vl) > uint64(len(b)) {
			return nil, nil, errMDTruncated
		}
		md[k] = string(b[:vl])
		b = b[vl:]
		if start-len(b) > maxMDBytes {
			return nil, nil, errMDLimits
		}
	}
	return md, b, nil
}

// appendStatusBody encodes the non-OK status body: message then details.
func appendStatusBody(b []byte, st *plexus.Status) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(st.Message)))
	b = append(b, st.Message...)
	return append(b, st.Details...)
}

var errStatusBody = plexus.Errorf(plexus.ProtocolViolation, "status body truncated")

func parseStatusBody(code plexus.Code, b []byte) (*plexus.Status, error) {
	if len(b) < 4 {
		return nil, errStatusBody
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, errStatusBody
	}
	st := &plexus.Status{Code: code, Message: string(b[4 : 4+n])}
	if rest := b[4+n:]; len(rest) > 0 {
		st.Details = append([]byte(nil), rest...)
	}
	return st, nil
}
