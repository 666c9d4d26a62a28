package wire

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDescFieldsRoundTrip(t *testing.T) {
	var d Desc
	d.SetChannel(0x0102030405060708)
	d.SetKind(7)
	d.SetFlags(0xF0)
	d.SetCredit(0xAABBCCDD)
	d.SetMethod(0x1122334455667788)
	d.SetAux(42)
	d.SetSlotRef(9, 11, 64, 4096)

	require.Equal(t, uint64(0x0102030405060708), d.Channel())
	require.Equal(t, Kind(7), d.Kind())
	require.Equal(t, uint8(0xF0|FlagSlot), d.Flags())
	require.Equal(t, uint32(0xAABBCCDD), d.Credit())
	require.Equal(t, uint64(0x1122334455667788), d.Method())
	require.Equal(t, uint64(42), d.Aux())
	require.Equal(t, uint32(9), d.Slot())
	require.Equal(t, uint32(11), d.Gen())
	require.Equal(t, uint32(64), d.Offset())
	require.Equal(t, uint32(4096), d.Length())
	// Wire positions are normative (SPEC.md): check a few raw bytes.
	require.Equal(t, byte(0x08), d[0])
	require.Equal(t, byte(7), d[8])
	require.Equal(t, byte(0xDD), d[12])
	require.Equal(t, byte(9), d[36])
	require.Nil(t, d.Inline(), "a slot descriptor has no inline payload")
}

func TestDescInline(t *testing.T) {
	var d Desc
	d.SetSlotRef(1, 2, 3, 4)
	p := []byte("0123456789abcdefghijklmnopqr") // exactly InlineMax
	require.Len(t, p, InlineMax)
	require.True(t, d.SetInline(p))
	require.Equal(t, FlagInline, d.Flags()&(FlagInline|FlagSlot))
	require.Equal(t, p, d.Inline())
	require.False(t, d.SetInline(append(p, 'x')))

	require.True(t, d.SetInline([]byte("hi")))
	require.Equal(t, []byte("hi"), d.Inline())
	require.Equal(t, uint32(0), d.Slot()&0xFFFF0000, "the tail of the previous payload is cleared")

	d.SetLength(InlineMax + 1) // as a hostile peer might
	require.Nil(t, d.Inline())
}

func TestKindNames(t *testing.T) {
	require.Equal(t, "OPEN", KindOpen.String())
	require.Equal(t, "GOAWAY", KindMax.String())
	require.Equal(t, "KIND(0)", Kind(0).String())
	require.Equal(t, "KIND(10)", (KindMax + 1).String())
	for k := Kind(0); k < 16; k++ {
		require.Equal(t, k >= KindOpen && k <= KindGoAway, k.Valid(), "kind %d", k)
	}
	require.True(t, KindNotify.CarriesMessage())
	require.False(t, KindCredit.CarriesMessage())
}

// TestReservedBits: a caller may set INLINE, SLOT and the session's
// nibble, and nothing else; the reserved u16 must be zero.
func TestReservedBits(t *testing.T) {
	var d Desc
	for f := 0; f < 256; f++ {
		d.SetFlags(uint8(f))
		want := f&0x0c != 0
		require.Equal(t, want, d.HasReservedBits(), "flags %#x", f)
	}
	d.SetFlags(0)
	d[offRsvd+1] = 1
	require.True(t, d.HasReservedBits())
	require.Equal(t, uint8(0x0f), TransportFlags)
	require.Equal(t, uint8(0xf0), SessionFlags)
}

// TestCellsAlias: the ring's view of descriptors is the same memory.
func TestCellsAlias(t *testing.T) {
	ds := make([]Desc, 3)
	cells := Cells(ds)
	require.Len(t, cells, 3)
	cells[2][offChannel] = 9
	require.Equal(t, uint64(9), ds[2].Channel())
	ds[0].SetAux(5)
	require.Equal(t, byte(5), ds[0].Cell()[offAux])
	require.Empty(t, Cells(nil))
}
