//go:build linux

package shmlink

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
)

// sessionPair runs sessions over both ends of a new link: the plugin end
// serves mux.
func sessionPair(t *testing.T, mux *session.Mux) (hostT, plugT *Transport, host *session.Session) {
	t.Helper()
	hostT, plugT = pair(t, shm.Config{}, Config{MaxPayload: 32 << 20})
	host = session.New(hostT, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	plug := session.New(plugT, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	t.Cleanup(func() { _ = host.Close(); _ = plug.Close() })
	return hostT, plugT, host
}

// TestSessionForwardsSealed: a large message crosses two links with one
// copy in all: the first sender seals it (the copy), and the side in the
// middle, whose handler passes the request it received on to the second
// link as a Raw message, sends it by reference; the last receiver reads
// the first sender's memfd in place.
func TestSessionForwardsSealed(t *testing.T) {
	const size = 16 << 20
	want := pattern16(size)

	sumMux := session.NewMux()
	sumID, err := sumMux.HandleUnary("fwd.S", "Sum", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(req))), nil
	})
	require.NoError(t, err)
	lastHop, _, toLast := sessionPair(t, sumMux)

	fwdMux := session.NewMux()
	fwdID, err := fwdMux.HandleUnary("fwd.S", "Forward", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		var resp plexus.Raw
		if err := toLast.Invoke(ctx, sumID, plexus.Raw(req), &resp); err != nil {
			return nil, err
		}
		return resp, nil
	})
	require.NoError(t, err)
	// The first link's "host" end is the original sender here; its peer
	// (the middle) serves Forward.
	first, middle, toMiddle := sessionPair(t, fwdMux)

	sb, err := Seal(want)
	require.NoError(t, err)
	defer sb.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var resp plexus.Raw
	require.NoError(t, toMiddle.Invoke(ctx, fwdID, plexus.Raw(sb.Bytes()), &resp))
	require.Equal(t, crc32.ChecksumIEEE(want), binary.LittleEndian.Uint32(resp), "the last receiver read the bytes")

	require.EqualValues(t, 1, first.Stats().Blobs.Shared, "the sealed message left by reference")
	require.Zero(t, first.Stats().Blobs.Copied)
	require.EqualValues(t, 1, lastHop.Stats().Blobs.Shared, "and was forwarded by reference")
	require.Zero(t, lastHop.Stats().Blobs.Copied, "the middle copied nothing")
	require.Zero(t, middle.Stats().Blobs.Copied)
}
