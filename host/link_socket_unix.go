//go:build unix

package host

import (
	"os"

	"github.com/plexus-ipc/plexus/transport/stream"
)

// socketPair returns this side's end of an AF_UNIX stream socketpair and
// the child's (stream.ChildPair).
func socketPair() (stream.Conn, *os.File, error) { return stream.ChildPair() }
