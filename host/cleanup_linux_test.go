package host_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
)

func TestCleanupClients(t *testing.T) {
	var buf logBuf
	a := start(t, config(t, &buf))
	b := start(t, config(t, &buf))
	pids := []int{a.Pid(), b.Pid()}
	host.CleanupClients()
	for _, pid := range pids {
		require.True(t, gone(pid), "plugin %d survived CleanupClients", pid)
	}
	for _, c := range []*host.Client{a, b} {
		_, err := echo(context.Background(), c, "x")
		require.True(t, errors.Is(err, plexus.ErrLinkClosed), "%v", err)
	}
}

// TestStreamThroughClient: streaming calls go through the client like
// unary ones (the test plugin has no streaming method, so the call is
// refused by the plugin, which proves it reached it).
func TestStreamThroughClient(t *testing.T) {
	var buf logBuf
	c := start(t, config(t, &buf))
	st, err := c.NewStream(context.Background(), plexus.MethodID(svcName, "NoSuchStream"), plexus.Raw("x"), true)
	require.NoError(t, err)
	var msg plexus.Raw
	err = st.Recv(&msg)
	require.NotEqual(t, io.EOF, err)
	require.True(t, errors.Is(err, plexus.ErrUnimplemented), "%v", err)
	require.ErrorContains(t, err, "unknown method")
}
