package wire

import (
	"encoding/binary"

	"github.com/plexus-ipc/plexus"
)

// Limits of the metadata block.
const (
	MaxMetadataEntries = 64
	MaxMetadataBytes   = 16 << 10
)

// AppendMetadata appends a metadata block (SPEC.md "Metadata"). Callers
// check its size with MetadataSize first.
func AppendMetadata(b []byte, md plexus.Metadata) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(md)))
	for k, v := range md {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// MetadataSize checks md against the limits and returns the size of its
// block.
func MetadataSize(md plexus.Metadata) (int, error) {
	if len(md) > MaxMetadataEntries {
		return 0, plexus.Errorf(plexus.InvalidArgument, "metadata has %d entries, the limit is %d", len(md), MaxMetadataEntries)
	}
	n := 2
	for k, v := range md {
		if err := CheckMetadataKey(k); err != nil {
			return 0, err
		}
		n += 6 + len(k) + len(v)
	}
	if n > MaxMetadataBytes {
		return 0, plexus.Errorf(plexus.InvalidArgument, "metadata of %d bytes exceeds the %d-byte limit", n, MaxMetadataBytes)
	}
	return n, nil
}

// CheckMetadataKey checks that k is 1-255 bytes of printable ASCII.
func CheckMetadataKey(k string) error {
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

// Pre-declared so that rejecting a block does not allocate.
var (
	errMDTruncated = plexus.Errorf(plexus.ProtocolViolation, "metadata block truncated")
	errMDLimits    = plexus.Errorf(plexus.ProtocolViolation, "metadata block exceeds limits")
	errMDKey       = plexus.Errorf(plexus.ProtocolViolation, "metadata key invalid")
)

// ParseMetadata decodes a metadata block from the peer and returns the rest of
// the payload. Counts and lengths are checked against the limits and the
// remaining bytes before anything is allocated.
func ParseMetadata(b []byte) (plexus.Metadata, []byte, error) {
	if len(b) < 2 {
		return nil, nil, errMDTruncated
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n > MaxMetadataEntries {
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
		if CheckMetadataKey(k) != nil {
			return nil, nil, errMDKey
		}
		vl := binary.LittleEndian.Uint32(b[2+kl:])
		b = b[2+kl+4:]
		if uint64(vl) > uint64(len(b)) {
			return nil, nil, errMDTruncated
		}
		md[k] = string(b[:vl])
		b = b[vl:]
		if start-len(b) > MaxMetadataBytes {
			return nil, nil, errMDLimits
		}
	}
	return md, b, nil
}
