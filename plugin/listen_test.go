package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// closeCounter is a Listener that counts its Closes and accepts nothing.
type closeCounter struct{ closes int }

func (c *closeCounter) Accept() (stream.Conn, string, error) { return nil, "", ErrListenerClosed }
func (c *closeCounter) Close() error                         { c.closes++; return nil }
func (c *closeCounter) Addr() string                         { return "test:" }

// TestStartedByHostClosesListener: a program started by a host (the
// handshake variable set: StartedByHost says so) serves that host, and
// Run closes a Listener it was given unused, before anything else (here
// the variable does not parse); without the variable it is not started by
// a host.
func TestStartedByHostClosesListener(t *testing.T) {
	t.Setenv(handshake.EnvName, "not a handshake")
	require.True(t, StartedByHost())
	ln := &closeCounter{}
	err := Run(ServeConfig{Cookie: "c", Listener: ln})
	require.Error(t, err)
	require.Equal(t, 1, ln.closes, "Run closed the Listener nobody will attach to")
	require.False(t, StartedByHost(), "Run took the variable out of the environment")
}
