package codec

import (
	"time"

	"github.com/tinylib/msgp/msgp"
)

// The Append functions add one value's encoding to b and return the
// extended slice, like strconv.AppendInt; they never fail. They are thin
// wrappers over msgp's, named so that generated code reads the same for
// every type and the encoding of each is decided here, in one place.

func AppendNil(b []byte) []byte                { return append(b, 0xc0) }
func AppendBool(b []byte, v bool) []byte       { return msgp.AppendBool(b, v) }
func AppendInt(b []byte, v int) []byte         { return msgp.AppendInt64(b, int64(v)) }
func AppendInt8(b []byte, v int8) []byte       { return msgp.AppendInt64(b, int64(v)) }
func AppendInt16(b []byte, v int16) []byte     { return msgp.AppendInt64(b, int64(v)) }
func AppendInt32(b []byte, v int32) []byte     { return msgp.AppendInt64(b, int64(v)) }
func AppendInt64(b []byte, v int64) []byte     { return msgp.AppendInt64(b, v) }
func AppendUint(b []byte, v uint) []byte       { return msgp.AppendUint64(b, uint64(v)) }
func AppendUint8(b []byte, v uint8) []byte     { return msgp.AppendUint64(b, uint64(v)) }
func AppendUint16(b []byte, v uint16) []byte   { return msgp.AppendUint64(b, uint64(v)) }
func AppendUint32(b []byte, v uint32) []byte   { return msgp.AppendUint64(b, uint64(v)) }
func AppendUint64(b []byte, v uint64) []byte   { return msgp.AppendUint64(b, v) }
func AppendFloat32(b []byte, v float32) []byte { return msgp.AppendFloat32(b, v) }
func AppendFloat64(b []byte, v float64) []byte { return msgp.AppendFloat64(b, v) }
func AppendString(b []byte, v string) []byte   { return msgp.AppendString(b, v) }

// AppendStringBytes appends v as a str (not a bin).
func AppendStringBytes(b []byte, v []byte) []byte { return msgp.AppendStringFromBytes(b, v) }

// AppendBytes appends v as a bin, or nil for a nil slice.
func AppendBytes(b []byte, v []byte) []byte {
	if v == nil {
		return AppendNil(b)
	}
	return msgp.AppendBytes(b, v)
}

// AppendDuration appends d as an int64 of nanoseconds.
func AppendDuration(b []byte, d time.Duration) []byte { return msgp.AppendInt64(b, int64(d)) }

// AppendTime appends t as a MessagePack timestamp (extension type -1, in
// its 4, 8 or 12-byte form, the smallest that holds t). The location and
// the monotonic reading do not travel.
func AppendTime(b []byte, t time.Time) []byte { return msgp.AppendTimeExt(b, t) }

// AppendArrayHeader appends the header of an array of n elements.
func AppendArrayHeader(b []byte, n int) []byte { return msgp.AppendArrayHeader(b, uint32(n)) }

// AppendMapHeader appends the header of a map of n entries.
func AppendMapHeader(b []byte, n int) []byte { return msgp.AppendMapHeader(b, uint32(n)) }

// AppendMsg appends a value that encodes itself (a msgp-generated type).
func AppendMsg(b []byte, m msgp.Marshaler) ([]byte, error) { return m.MarshalMsg(b) }

// AppendMsgErr is AppendMsg for use inside Append expressions: it does
// nothing once *err is set, and sets it if m fails, so that generated code
// can encode nested values without a branch at every level.
func AppendMsgErr(b []byte, m msgp.Marshaler, err *error) []byte {
	if *err != nil {
		return b
	}
	b, *err = m.MarshalMsg(b)
	return b
}

// Upper bounds of encoded sizes, for Msgsize methods of generated code.
const (
	SizeNil         = 1
	SizeBool        = 1
	SizeInt         = 9 // any integer type
	SizeFloat32     = 5
	SizeFloat64     = 9
	SizeDuration    = 9
	SizeTime        = 15
	SizeAttachment  = 6
	SizeArrayHeader = 5
	SizeMapHeader   = 5
)

// SizeString bounds the encoding of s.
func SizeString(s string) int { return 5 + len(s) }

// SizeBytes bounds the encoding of v.
func SizeBytes(v []byte) int { return 5 + len(v) }
