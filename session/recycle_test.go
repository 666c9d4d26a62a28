package session

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

// A handler's context outlives the call in a goroutine the handler
// started; the serving channel behind it is recycled for later calls.
// SetTrailer through the old context must be refused rather than land on
// the call that reuses the channel.
func TestRecycledServingChannelKeepsCallsApart(t *testing.T) {
	late := make(chan context.Context, 1)
	mux := NewMux()
	first := true
	echo, err := mux.HandleUnary("test.Recycle", "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		if first {
			first = false
			late <- ctx
		}
		require.NoError(t, SetTrailer(ctx, plexus.Metadata{"call": string(req)}))
		return plexus.Raw(req), nil
	})
	require.NoError(t, err)
	host, _ := pair(t, nil, mux)
	ctx := context.Background()
	call := func(i int) plexus.Metadata {
		var resp plexus.Raw
		var trailer plexus.Metadata
		req := strconv.Itoa(i)
		require.NoError(t, host.Invoke(plexus.WithResponseMetadata(ctx, &trailer), echo, plexus.Raw(req), &resp))
		require.Equal(t, req, string(resp))
		return trailer
	}
	require.Equal(t, "0", call(0)["call"])
	old := <-late
	require.Eventually(t, func() bool { return old.Err() != nil }, 5*time.Second, time.Millisecond,
		"the first call's context is cancelled once it has ended")
	err = SetTrailer(old, plexus.Metadata{"call": "stale"})
	require.ErrorIs(t, err, plexus.Errorf(plexus.FailedPrecondition, ""))
	for i := 1; i <= 200; i++ {
		require.Equal(t, strconv.Itoa(i), call(i)["call"], "call %d", i)
	}
	require.NotNil(t, FromContext(old), "FromContext still names the session after the call")
}
