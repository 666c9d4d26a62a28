package host

import (
	"errors"
	"os"

	"github.com/plexus-ipc/plexus/transport/stream"
)

// socketPair: Windows cannot pass a socket to a child as a descriptor;
// its socket links connect back instead (dialBack is set).
func socketPair() (stream.Conn, *os.File, error) {
	return nil, nil, errors.New("host: no inherited sockets on Windows")
}
