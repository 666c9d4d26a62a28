package ring

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
	require.Equal(t, uint8(7), d.Kind())
	require.Equal(t, uint8(0xF0|FlagSlot), d.Flags())
	require.Equal(t, uint32(0xAABBCCDD), d.Credit())
	require.Equal(t, uint64(0x1122334455667788), d.Method())
	require.Equal(t, uint64(42), d.Aux())
	require.Equal(t, uint32(9), d.Slot())
	require.Equal(t, uint32(11), d.Gen())
	require.Equal(t, uint32(64), d.Offset())
	require.Equal(t, uint32(4096), d.Length())
	// Wire positions are normative (DESIGN.md): check a few raw bytes.
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
