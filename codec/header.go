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
	switch {
	case c <= 0x7f:
		return head{kind: kUint, hdr: 1}
	case c <= 0x8f:
		return head{kind: kMap, hdr: 1, n: uint64(c & 0x0f)}
	case c <= 0x9f:
		return head{kind: kArray, hdr: 1, n: uint64(c & 0x0f)}
	case c <= 0xbf:
		return head{kind: kStr, hdr: 1, n: uint64(c & 0x1f)}
	case c >= 0xe0:
		return head{kind: kInt, hdr: 1}
	}
	switch c {
	case 0xc0:
		return head{kind: kNil, hdr: 1}
	case 0xc2, 0xc3:
		return head{kind: kBool, hdr: 1}
	case 0xc4:
		return sized(b, kBin, 1)
	case 0xc5:
		return sized(b, kBin, 2)
	case 0xc6:
		return sized(b, kBin, 4)
	case 0xc7, 0xc8, 0xc9:
		h := sized(b, kExt, 1<<(c-0xc7))
		if h.hdr == errShortHeader || len(b) < h.hdr+1 {
			return head{hdr: errShortHeader}
		}
		h.ext = int8(b[h.hdr])
		h.hdr++
		return h
	case 0xca:
		return head{kind: kFloat, hdr: 1, n: 4}
	case 0xcb:
		return head{kind: kFloat, hdr: 1, n: 8}
	case 0xcc, 0xcd, 0xce, 0xcf:
		return head{kind: kUint, hdr: 1, n: 1 << (c - 0xcc)}
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return head{kind: kInt, hdr: 1, n: 1 << (c - 0xd0)}
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		if len(b) < 2 {
			return head{hdr: errShortHeader}
		}
		return head{kind: kExt, hdr: 2, n: 1 << (c - 0xd4), ext: int8(b[1])}
	case 0xd9:
		return sized(b, kStr, 1)
	case 0xda:
		return sized(b, kStr, 2)
	case 0xdb:
		return sized(b, kStr, 4)
	case 0xdc:
		return sized(b, kArray, 2)
	case 0xdd:
		return sized(b, kArray, 4)
	case 0xde:
		return sized(b, kMap, 2)
	case 0xdf:
		return sized(b, kMap, 4)
	}
	return head{kind: kInvalid, hdr: 1} // 0xc1
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
