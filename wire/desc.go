package wire

import (
	"encoding/binary"
	"unsafe"
)

// DescSize is the size of one descriptor in bytes.
const DescSize = 64

// Byte offsets of descriptor fields. SPEC.md "Descriptor" is the normative
// description; these constants must match it.
const (
	offChannel = 0  // u64
	offKind    = 8  // u8
	offFlags   = 9  // u8
	offRsvd    = 10 // u16, zero
	offCredit  = 12 // u32
	offMethod  = 16 // u64
	offAux     = 24 // u64
	offLength  = 32 // u32
	offSlot    = 36 // u32
	offGen     = 40 // u32
	offOffset  = 44 // u32
	offInline  = 48 // 16 bytes, when the payload is in a slot

	// InlineOffset is where an inline payload starts: with FlagInline set
	// the slot, generation, offset and inline fields (bytes 36..63) hold the
	// payload itself.
	InlineOffset = offSlot
	// InlineMax is the largest payload that fits in a descriptor.
	InlineMax = DescSize - InlineOffset
)

// Desc is one 64-byte descriptor in wire form. Its accessors read and write
// the little-endian fields in place, so a Desc can be copied into and out of
// a ring with a single 64-byte move.
type Desc [DescSize]byte

func (d *Desc) Channel() uint64 { return binary.LittleEndian.Uint64(d[offChannel:]) }
func (d *Desc) Kind() Kind      { return Kind(d[offKind]) }
func (d *Desc) Flags() uint8    { return d[offFlags] }
func (d *Desc) Reserved() uint16 {
	return binary.LittleEndian.Uint16(d[offRsvd:])
}
func (d *Desc) Credit() uint32 { return binary.LittleEndian.Uint32(d[offCredit:]) }
func (d *Desc) Method() uint64 { return binary.LittleEndian.Uint64(d[offMethod:]) }
func (d *Desc) Aux() uint64    { return binary.LittleEndian.Uint64(d[offAux:]) }
func (d *Desc) Length() uint32 { return binary.LittleEndian.Uint32(d[offLength:]) }
func (d *Desc) Slot() uint32   { return binary.LittleEndian.Uint32(d[offSlot:]) }
func (d *Desc) Gen() uint32    { return binary.LittleEndian.Uint32(d[offGen:]) }
func (d *Desc) Offset() uint32 { return binary.LittleEndian.Uint32(d[offOffset:]) }

func (d *Desc) SetChannel(v uint64) { binary.LittleEndian.PutUint64(d[offChannel:], v) }
func (d *Desc) SetKind(v Kind)      { d[offKind] = uint8(v) }
func (d *Desc) SetFlags(v uint8)    { d[offFlags] = v }
func (d *Desc) SetCredit(v uint32)  { binary.LittleEndian.PutUint32(d[offCredit:], v) }
func (d *Desc) SetMethod(v uint64)  { binary.LittleEndian.PutUint64(d[offMethod:], v) }
func (d *Desc) SetAux(v uint64)     { binary.LittleEndian.PutUint64(d[offAux:], v) }
func (d *Desc) SetLength(v uint32)  { binary.LittleEndian.PutUint32(d[offLength:], v) }

// SetSlotRef marks the payload as living in a slot and records its reference.
func (d *Desc) SetSlotRef(slot, gen, offset, length uint32) {
	d[offFlags] = d[offFlags]&^FlagInline | FlagSlot
	binary.LittleEndian.PutUint32(d[offSlot:], slot)
	binary.LittleEndian.PutUint32(d[offGen:], gen)
	binary.LittleEndian.PutUint32(d[offOffset:], offset)
	binary.LittleEndian.PutUint32(d[offLength:], length)
}

// SetInline stores p (at most InlineMax bytes) in the descriptor and marks
// the payload inline. It reports false, changing nothing, if p is too long.
func (d *Desc) SetInline(p []byte) bool {
	if len(p) > InlineMax {
		return false
	}
	d[offFlags] = d[offFlags]&^FlagSlot | FlagInline
	binary.LittleEndian.PutUint32(d[offLength:], uint32(len(p)))
	n := copy(d[InlineOffset:], p)
	clear(d[InlineOffset+n:])
	return true
}

// Inline returns the inline payload as a view into d. It returns nil if the
// descriptor is not inline or its length field exceeds InlineMax (a peer
// error the caller detects with Validate).
func (d *Desc) Inline() []byte {
	n := d.Length()
	if d.Flags()&FlagInline == 0 || n > InlineMax {
		return nil
	}
	return d[InlineOffset : InlineOffset+int(n)]
}

// Reset zeroes every field; a descriptor with neither FlagInline nor
// FlagSlot carries no payload and must have Length 0.
func (d *Desc) Reset() { *d = Desc{} }

// Start zeroes d and sets the fields every frame has.
func (d *Desc) Start(kind Kind, channel uint64, flags uint8) {
	*d = Desc{}
	d[offKind] = uint8(kind)
	binary.LittleEndian.PutUint64(d[offChannel:], channel)
	d[offFlags] = flags
}

// HasReservedBits reports whether d sets a bit that no sender may set: the
// reserved u16, or a transport bit outside INLINE and SLOT (BLOB is the
// shared-memory transport's own, set by it alone). Every transport refuses
// such a descriptor from its caller, and a receiver from its peer.
func (d *Desc) HasReservedBits() bool {
	return d.Reserved() != 0 || d[offFlags]&CallerReserved != 0
}

// Cell is d's 64 bytes as the ring carries them.
func (d *Desc) Cell() *[DescSize]byte { return (*[DescSize]byte)(d) }

// Cells is ds as ring cells, without a copy.
func Cells(ds []Desc) [][DescSize]byte {
	return unsafe.Slice((*[DescSize]byte)(unsafe.Pointer(unsafe.SliceData(ds))), len(ds))
}
