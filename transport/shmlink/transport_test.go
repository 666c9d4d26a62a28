//go:build linux

package shmlink

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
)

// pair returns both ends of a link in this process, closed at cleanup.
func pair(t testing.TB, scfg shm.Config, cfg Config) (host, plugin *Transport) {
	t.Helper()
	h, p, err := Pair(scfg, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close(); _ = p.Close() })
	return h, p
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
		h, p := pair(t, shm.Config{Wait: 10 * time.Second}, Config{MaxPayload: max})
		return h, p
	}, transporttest.Options{ZeroAllocs: true})
}
