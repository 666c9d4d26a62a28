package host_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

var (
	pyLeaseID      = plexus.MethodID(pyStreams, "Lease")
	pyLeaseStatsID = plexus.MethodID(pyStreams, "LeaseStats")
)

// pyLeaseStats is the plugin's count of leases sent in its slots, sent as
// sealed memfds (both by reference), copied, and one-shot blobs sent.
func pyLeaseStats(t *testing.T, c *host.Client) [4]uint64 {
	t.Helper()
	var resp plexus.Raw
	require.NoError(t, c.Invoke(t.Context(), pyLeaseStatsID, plexus.Raw(nil), &resp))
	require.Len(t, resp, 32)
	var out [4]uint64
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(resp[8*i:])
	}
	return out
}

// TestPythonLease: a Python handler fills a lease of 4 KiB (a slot of the
// plugin's pool) and one of 4 MiB (a memfd of its own) in place and returns
// them; the host reads the bytes where the plugin wrote them: the first in
// the plugin's pool (a slot of it in use while the host holds the
// response), the second as a one-shot blob, the plugin's own memfd sealed
// (the plugin copied neither).
func TestPythonLease(t *testing.T) {
	var buf logBuf
	c, ctx := pyStart(t, pyConfig(t, &buf), &buf)

	peerInUse := func() int {
		st := c.Stats()
		require.NotNil(t, st.SharedMemory)
		n := 0
		for _, cl := range st.SharedMemory.Peer {
			n += cl.InUse
		}
		return n
	}

	req := func(n, i uint64) plexus.Raw {
		return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, n), i)
	}

	// 4 KiB: a slot of the plugin's pool, named in place.
	base := peerInUse()
	var small session.Lease
	require.NoError(t, c.Invoke(ctx, pyLeaseID, req(4096, 3), &small))
	require.True(t, bytes.Equal(pyPat(3, 4096), small.Bytes()), "4 KiB lease")
	require.Equal(t, base+1, peerInUse(), "the response lies in a slot of the plugin's pool")
	small.Release()
	require.Equal(t, base, peerInUse(), "released: the slot is the plugin's again")
	got := pyLeaseStats(t, c)
	require.Equal(t, [4]uint64{1, 0, 0, 0}, got, "slots, memfds, copied, one-shot blobs")

	// 4 MiB: the plugin's memfd, sealed and sent as a one-shot blob.
	blobsBefore := c.Stats().SharedMemory.Blobs
	var large session.Lease
	require.NoError(t, c.Invoke(ctx, pyLeaseID, req(4<<20, 5), &large))
	require.True(t, bytes.Equal(pyPat(5, 4<<20), large.Bytes()), "4 MiB lease")
	blobs := c.Stats().SharedMemory.Blobs
	require.Equal(t, blobsBefore.Received+1, blobs.Received, "a blob is held")
	require.GreaterOrEqual(t, blobs.OneShotBytes-blobsBefore.OneShotBytes, int64(4<<20), "a one-shot blob")
	large.Release()
	got = pyLeaseStats(t, c)
	require.Equal(t, [4]uint64{1, 1, 0, 1}, got, "slots, memfds, copied, one-shot blobs: the blob sent was the lease's memfd")

	// A handler returning bytes still works; the plugin holds no slot after.
	var resp plexus.Raw
	require.NoError(t, c.Invoke(ctx, pyBigID, u64(5000), &resp))
	require.True(t, bytes.Equal(pyPat(0, 5000), resp))
	require.Equal(t, base, peerInUse())
	pyClose(t, c)
}
