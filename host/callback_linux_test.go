package host_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

// TestHostCallbacks: the plugin calls a service the host registered, on
// the same link, from inside one of its own handlers.
func TestHostCallbacks(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.HostServices = session.NewMux()
	_, err := cfg.HostServices.HandleUnary(cbName, "Greet", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw("hello, " + string(req)), nil
	})
	require.NoError(t, err)
	c := start(t, cfg)
	var resp plexus.Raw
	require.NoError(t, c.Invoke(context.Background(), callHostID, plexus.Raw("plugin"), &resp))
	require.Equal(t, "hello, plugin", string(resp))
}

// TestResourceLimits: limits are in force in the plugin process.
func TestResourceLimits(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Limits = host.Limits{OpenFiles: 77}
	c := start(t, cfg)
	require.Equal(t, uint64(77), callU64(t, c, limitID))
}
