package handshake

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

func TestWireFillsMethodIDs(t *testing.T) {
	got := Wire([]plexus.ServiceDesc{{Name: "svc.S", Methods: []plexus.MethodDesc{
		{Name: "A", Signature: 7},
		{Name: "B", ID: 42, Signature: 8},
	}}})
	require.Equal(t, []Service{{Name: "svc.S", Methods: []Method{
		{Name: "A", ID: plexus.MethodID("svc.S", "A"), Signature: 7},
		{Name: "B", ID: 42, Signature: 8},
	}}}, got)
}

func TestVersionsSorted(t *testing.T) {
	require.Equal(t, []uint32{1, 3, 9}, Versions(map[uint32]string{9: "", 1: "", 3: ""}))
	require.Empty(t, Versions(map[uint32]int{}))
}

func TestShutdownMethodIsReserved(t *testing.T) {
	require.Equal(t, plexus.MethodID("plexus.Link", "Shutdown"), ShutdownMethod)
}
