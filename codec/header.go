package codec

import "encoding/binary"

// kind is the MessagePack family of a leading byte.
type kind uint8

const (
	kInvalid kind = iota
	kNil
	kBool
	kInt
	kUint
	kFloat
	kStr
	kBin
	kArray
	kMap
	kExt
)

var kindNames = [...]string{
	kInvalid: "invalid", kNil: "nil", kBool: "bool", kInt: "int", kUint: "uint",
	kFloat: "float", kStr: "str", kBin: "bin", kArray: "array", kMap: "map", kExt: "ext",
}

func (k kind) String() string { return kindNames[k] }

// head is a decoded object header. For str, bin and ext, n is the payload
// length in bytes; for array and map, the declared count of elements or
// entries; for scalars, the size of the value after the header. ext is
// the extension type.
type head struct {
	kind kind
	hdr  int    // bytes of the header itself (lead byte, length, ext type)
	n    uint64 // see above
	ext  int8
}

// errShortHeader means the header itself runs past the end of the input.
const errShortHeader = -1

// readHead decodes the header at b[0]. It returns hdr == errShortHeader
// when b is too short for the header, and kind kInvalid for the one byte
// (0xc1) MessagePack never uses. It never looks past the header.
func readHead(b []byte) head {
	if len(b) == 0 {
		return head{hdr: errShortHeader}
	}
	c := b[0]
	if c < 0xc0 || c >= 0xe0 {
		return fixHead(c)
	}
	l := leads[c]
	switch l.form {
	case formSized:
		return sized(b, l.kind, int(l.w))
	case formExt:
		return extHead(b, int(l.w))
	case formFixExt:
		return fixExtHead(b, uint64(l.w))
	}
	return head{kind: l.kind, hdr: 1, n: uint64(l.w)}
}

// fixHead reads the one-byte headers that carry their value or length in
// the lead byte itself: positive fixint, fixmap, fixarray, fixstr and
// negative fixint (every lead byte outside 0xc0..0xdf).
func fixHead(c byte) head {
	switch {
	case c <= 0x7f:
		return head{kind: kUint, hdr: 1}
	case c <= 0x8f:
		return head{kind: kMap, hdr: 1, n: uint64(c & 0x0f)}
	case c <= 0x9f:
		return head{kind: kArray, hdr: 1, n: uint64(c & 0x0f)}
	case c <= 0xbf:
		return head{kind: kStr, hdr: 1, n: uint64(c & 0x1f)}
	}
	return head{kind: kInt, hdr: 1}
}

// form is how the rest of a header follows a lead byte from 0xc0 to 0xdf.
type form uint8

const (
	formFixed  form = iota // nothing follows; the value after it is w bytes
	formSized              // a w-byte big-endian length follows
	formExt                // a w-byte length follows, then the ext type
	formFixExt             // the ext type follows; the payload is w bytes
)

// lead says how to read the header a lead byte from 0xc0 to 0xdf starts.
type lead struct {
	kind kind
	form form
	w    uint8 // see form
}

// leads holds the lead bytes 0xc0..0xdf, whose header is not all in the
// lead byte; the others are fixHead's. 0xc1, which MessagePack never
// uses, is left zero: a one-byte header of kind kInvalid.
var leads = [256]lead{
	0xc0: {kind: kNil},
	0xc2: {kind: kBool},
	0xc3: {kind: kBool},
	0xc4: {kind: kBin, form: formSized, w: 1},
	0xc5: {kind: kBin, form: formSized, w: 2},
	0xc6: {kind: kBin, form: formSized, w: 4},
	0xc7: {kind: kExt, form: formExt, w: 1},
	0xc8: {kind: kExt, form: formExt, w: 2},
	0xc9: {kind: kExt, form: formExt, w: 4},
	0xca: {kind: kFloat, w: 4},
	0xcb: {kind: kFloat, w: 8},
	0xcc: {kind: kUint, w: 1},
	0xcd: {kind: kUint, w: 2},
	0xce: {kind: kUint, w: 4},
	0xcf: {kind: kUint, w: 8},
	0xd0: {kind: kInt, w: 1},
	0xd1: {kind: kInt, w: 2},
	0xd2: {kind: kInt, w: 4},
	0xd3: {kind: kInt, w: 8},
	0xd4: {kind: kExt, form: formFixExt, w: 1},
	0xd5: {kind: kExt, form: formFixExt, w: 2},
	0xd6: {kind: kExt, form: formFixExt, w: 4},
	0xd7: {kind: kExt, form: formFixExt, w: 8},
	0xd8: {kind: kExt, form: formFixExt, w: 16},
	0xd9: {kind: kStr, form: formSized, w: 1},
	0xda: {kind: kStr, form: formSized, w: 2},
	0xdb: {kind: kStr, form: formSized, w: 4},
	0xdc: {kind: kArray, form: formSized, w: 2},
	0xdd: {kind: kArray, form: formSized, w: 4},
	0xde: {kind: kMap, form: formSized, w: 2},
	0xdf: {kind: kMap, form: formSized, w: 4},
}

// extHead reads an ext 8, 16 or 32 header: a w-byte length, then the
// ext type, which the header counts too.
func extHead(b []byte, w int) head {
	h := sized(b, kExt, w)
	if h.hdr == errShortHeader || len(b) < h.hdr+1 {
		return head{hdr: errShortHeader}
	}
	h.ext = int8(b[h.hdr])
	h.hdr++
	return h
}

// fixExtHead reads a fixext header: the ext type after the lead byte,
// for a payload of n bytes.
func fixExtHead(b []byte, n uint64) head {
	if len(b) < 2 {
		return head{hdr: errShortHeader}
	}
	return head{kind: kExt, hdr: 2, n: n, ext: int8(b[1])}
}

// sized reads a header whose length follows the lead byte in w bytes.
func sized(b []byte, k kind, w int) head {
	if len(b) < 1+w {
		return head{hdr: errShortHeader}
	}
	var n uint64
	switch w {
	case 1:
		n = uint64(b[1])
	case 2:
		n = uint64(binary.BigEndian.Uint16(b[1:]))
	default:
		n = uint64(binary.BigEndian.Uint32(b[1:]))
	}
	return head{kind: k, hdr: 1 + w, n: n}
}
