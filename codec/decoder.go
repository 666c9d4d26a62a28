package codec

import (
	"errors"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Decoder reads values from one encoded message. Every length or count the
// input declares is checked against the bytes left and against the Limits
// before anything is allocated for it. A Decoder is a small value: keep it
// on the stack (var d codec.Decoder; d.Reset(b, lim)) and it costs no
// allocation.
type Decoder struct {
	b     []byte
	off   int
	lim   Limits
	depth int
	elems int
	// copyBytes makes Bytes return copies, for decoded values that must
	// outlive the input (results on the calling side).
	copyBytes bool
}

// NewDecoder returns a decoder over b.
func NewDecoder(b []byte, lim Limits) *Decoder {
	d := &Decoder{}
	d.Reset(b, lim)
	return d
}

// Reset makes d decode b from its start with lim, forgetting all state.
func (d *Decoder) Reset(b []byte, lim Limits) {
	*d = Decoder{b: b, lim: lim.resolved()}
}

// CopyBytes makes Bytes (and so the slice, map and pointer helpers built
// on it) return copies instead of views: generated code sets it where the
// decoded value outlives the payload, such as a call's results, which the
// session releases once they are decoded.
func (d *Decoder) CopyBytes(on bool) { d.copyBytes = on }

// Offset is the position of the next value in the input.
func (d *Decoder) Offset() int { return d.off }

// Len is the number of bytes not yet decoded.
func (d *Decoder) Len() int { return len(d.b) - d.off }

// Rest is a view of the bytes not yet decoded.
func (d *Decoder) Rest() []byte { return d.b[d.off:] }

// Finish reports an error if any input is left: a message is exactly its
// values, so trailing bytes mean the two sides disagree on its shape.
func (d *Decoder) Finish() error {
	if n := d.Len(); n != 0 {
		return errAt(d.off, ErrMalformed, nil, "%d trailing bytes after the message", n)
	}
	return nil
}

// Limits returns the limits in force, defaults resolved.
func (d *Decoder) Limits() Limits { return d.lim }

// IsNil reports whether the next value is nil, without consuming it.
func (d *Decoder) IsNil() bool { return d.off < len(d.b) && d.b[d.off] == 0xc0 }

// Nil consumes a nil.
func (d *Decoder) Nil() error {
	if !d.IsNil() {
		return d.typeErr("nil")
	}
	d.off++
	return nil
}

// Enter descends one level of nesting, failing with ErrLimit past
// MaxDepth. Every Enter that succeeds must be matched by a Leave; the
// generic helpers (ReadSlice, ReadMap, ReadPtr) do it themselves.
func (d *Decoder) Enter() error {
	if d.depth >= d.lim.MaxDepth {
		return errAt(d.off, ErrLimit, nil, "nesting deeper than MaxDepth %d", d.lim.MaxDepth)
	}
	d.depth++
	return nil
}

// Leave ascends one level of nesting.
func (d *Decoder) Leave() { d.depth-- }

// advance moves past what a msgp read function consumed.
func (d *Decoder) advance(rest []byte) { d.off = len(d.b) - len(rest) }

// msgpErr turns an error of a msgp read function into an *Error.
//
//go:noinline
func (d *Decoder) msgpErr(what string, err error) error {
	if errors.Is(err, msgp.ErrShortBytes) {
		return errAt(d.off, ErrMalformed, err, "%s truncated (%d bytes left)", what, d.Len())
	}
	return errAt(d.off, ErrMalformed, err, "decoding %s: %v", what, err)
}

// typeErr describes the value found where a want was expected.
//
//go:noinline
func (d *Decoder) typeErr(want string) error {
	h := readHead(d.b[d.off:])
	switch {
	case h.hdr == errShortHeader && d.Len() == 0:
		return errAt(d.off, ErrMalformed, nil, "expected %s, found the end of the input", want)
	case h.hdr == errShortHeader:
		return errAt(d.off, ErrMalformed, nil, "expected %s, found a truncated header", want)
	case h.kind == kInvalid:
		return errAt(d.off, ErrMalformed, nil, "expected %s, found the invalid byte 0x%02x", want, d.b[d.off])
	case h.kind == kExt:
		return errAt(d.off, ErrMalformed, nil, "expected %s, found ext type %d", want, h.ext)
	}
	return errAt(d.off, ErrMalformed, nil, "expected %s, found %s", want, h.kind)
}

// Bool decodes a bool.
func (d *Decoder) Bool() (bool, error) {
	v, rest, err := msgp.ReadBoolBytes(d.b[d.off:])
	if err != nil {
		return false, d.msgpErr("bool", err)
	}
	d.advance(rest)
	return v, nil
}

// Int64 decodes any integer that fits an int64.
func (d *Decoder) Int64() (int64, error) {
	v, rest, err := msgp.ReadInt64Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("int64", err)
	}
	d.advance(rest)
	return v, nil
}

// Int32 decodes an integer, failing if it does not fit an int32.
func (d *Decoder) Int32() (int32, error) {
	v, rest, err := msgp.ReadInt32Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("int32", err)
	}
	d.advance(rest)
	return v, nil
}

// Int16 decodes an integer, failing if it does not fit an int16.
func (d *Decoder) Int16() (int16, error) {
	v, rest, err := msgp.ReadInt16Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("int16", err)
	}
	d.advance(rest)
	return v, nil
}

// Int8 decodes an integer, failing if it does not fit an int8.
func (d *Decoder) Int8() (int8, error) {
	v, rest, err := msgp.ReadInt8Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("int8", err)
	}
	d.advance(rest)
	return v, nil
}

// Int decodes an integer, failing if it does not fit an int.
func (d *Decoder) Int() (int, error) {
	v, rest, err := msgp.ReadIntBytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("int", err)
	}
	d.advance(rest)
	return v, nil
}

// Uint64 decodes any non-negative integer.
func (d *Decoder) Uint64() (uint64, error) {
	v, rest, err := msgp.ReadUint64Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("uint64", err)
	}
	d.advance(rest)
	return v, nil
}

// Uint32 decodes an integer, failing if it does not fit a uint32.
func (d *Decoder) Uint32() (uint32, error) {
	v, rest, err := msgp.ReadUint32Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("uint32", err)
	}
	d.advance(rest)
	return v, nil
}

// Uint16 decodes an integer, failing if it does not fit a uint16.
func (d *Decoder) Uint16() (uint16, error) {
	v, rest, err := msgp.ReadUint16Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("uint16", err)
	}
	d.advance(rest)
	return v, nil
}

// Uint8 decodes an integer, failing if it does not fit a uint8.
func (d *Decoder) Uint8() (uint8, error) {
	v, rest, err := msgp.ReadUint8Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("uint8", err)
	}
	d.advance(rest)
	return v, nil
}

// Uint decodes an integer, failing if it does not fit a uint.
func (d *Decoder) Uint() (uint, error) {
	v, rest, err := msgp.ReadUintBytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("uint", err)
	}
	d.advance(rest)
	return v, nil
}

// Float64 decodes a float64 or a float32.
func (d *Decoder) Float64() (float64, error) {
	v, rest, err := msgp.ReadFloat64Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("float64", err)
	}
	d.advance(rest)
	return v, nil
}

// Float32 decodes a float32.
func (d *Decoder) Float32() (float32, error) {
	v, rest, err := msgp.ReadFloat32Bytes(d.b[d.off:])
	if err != nil {
		return 0, d.msgpErr("float32", err)
	}
	d.advance(rest)
	return v, nil
}

// Duration decodes a time.Duration (an int64 of nanoseconds).
func (d *Decoder) Duration() (time.Duration, error) {
	v, err := d.Int64()
	return time.Duration(v), err
}

// Time decodes a time.Time from the MessagePack timestamp extension (type
// -1, any of its three sizes) or msgp's own extension 5. The result is in
// UTC: locations do not cross the link.
func (d *Decoder) Time() (time.Time, error) {
	v, rest, err := msgp.ReadTimeUTCBytes(d.b[d.off:])
	if err != nil {
		return time.Time{}, d.msgpErr("time", err)
	}
	d.advance(rest)
	return v, nil
}
