//go:build linux

package handshaketest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/sockconn"
)

// Seqpacket returns both ends of a new AF_UNIX SOCK_SEQPACKET socketpair,
// on the runtime poller, closed when t ends.
func Seqpacket(t testing.TB) (*sockconn.Conn, *sockconn.Conn) {
	t.Helper()
	a, b, err := sockconn.Pair(unix.SOCK_SEQPACKET)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
