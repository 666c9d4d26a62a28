package pluginnet_test

import (
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/plugin/pluginnet"
)

// TestListenChecks: an address that is not unix:path or tcp:host:port,
// and TCP without TLS, are refused with the reason.
func TestListenChecks(t *testing.T) {
	for addr, why := range map[string]string{
		"":                "is not unix:path or tcp:host:port",
		"unix:":           "is not unix:path or tcp:host:port",
		"udp:127.0.0.1:0": "is not unix:path or tcp:host:port",
		"tcp:127.0.0.1:0": "needs TLS",
	} {
		_, err := pluginnet.Listen(addr, nil)
		require.ErrorContains(t, err, why, addr)
	}
}

// TestAcceptAndClose: a connection to the socket is accepted with its
// bytes, the address names the socket as Listen takes
// it, and Accept after Close reports plugin.ErrListenerClosed. (Hosts
// attaching for real, over TLS too: package host's TestAttach*.)
func TestAcceptAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.sock")
	ln, err := pluginnet.Listen("unix:"+path, nil)
	require.NoError(t, err)
	require.Equal(t, "unix:"+path, ln.Addr())
	var _ plugin.Listener = ln

	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	conn, _, err := ln.Accept()
	require.NoError(t, err)
	defer conn.Close()
	buf := make([]byte, 5)
	_, err = conn.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf))

	require.NoError(t, ln.Close())
	_, _, err = ln.Accept()
	require.True(t, errors.Is(err, plugin.ErrListenerClosed), "%v", err)
}
