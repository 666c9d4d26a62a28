package host

import (
	"errors"
	"net"
	"os"
)

// socketPair: Windows cannot pass a socket to a child as a descriptor;
// its socket links connect back instead (dialBack is set).
func socketPair() (net.Conn, *os.File, error) {
	return nil, nil, errors.New("host: no inherited sockets on Windows")
}
