package host_test

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/host"
)

// TestConfigInspect: a client with Config.Inspect opens the process's
// introspection endpoint as it starts, and the document there lists it.
func TestConfigInspect(t *testing.T) {
	var buf logBuf
	cfg := config(t, &buf)
	cfg.Name = "inspected"
	cfg.Inspect = true
	defer host.StopInspect()
	c := start(t, cfg)
	conn, err := net.Dial("unix", host.InspectPath(os.Getpid()))
	require.NoError(t, err, "the endpoint is open")
	b, err := io.ReadAll(conn)
	conn.Close()
	require.NoError(t, err)
	var doc host.InspectDoc
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Equal(t, os.Getpid(), doc.Pid)
	var names []string
	for _, cs := range doc.Clients {
		names = append(names, cs.Name)
		if cs.Name == "inspected" {
			require.Equal(t, c.Pid(), cs.Pid)
		}
	}
	require.Contains(t, names, "inspected")
	host.StopInspect()
	_, err = os.Stat(host.InspectPath(os.Getpid()))
	require.True(t, os.IsNotExist(err), "StopInspect removes the socket: %v", err)
}
