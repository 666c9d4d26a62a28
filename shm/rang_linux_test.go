package shm

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/wire"
)

// TestRangCountsRings: Rang counts the sends that found the peer's
// receiver parked (armed) and rang its doorbell, and no other sends.
func TestRangCountsRings(t *testing.T) {
	host, plugin := lifePair(t)
	var d [1]wire.Desc
	plugin.Disarm() // polling: a send rings nothing
	n, err := host.TrySend(d[:])
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, host.Rang())

	var got [4]wire.Desc
	n, err = plugin.TryRecv(got[:])
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.False(t, plugin.Arm(), "nothing pending")
	n, err = host.TrySend(d[:])
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.EqualValues(t, 1, host.Rang(), "the send to a parked receiver rang")
	require.Zero(t, plugin.Rang(), "the plugin sent nothing")

	n, err = host.TrySend(d[:]) // the ring cleared the flag: no second ring
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.EqualValues(t, 1, host.Rang())
}
