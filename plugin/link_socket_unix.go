//go:build unix

package plugin

import (
	"net"
	"os"
)

// inheritedConn is the stream socket the host passed as descriptor fd.
func inheritedConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "plexus-link")
	defer f.Close() // FileConn made a duplicate
	return net.FileConn(f)
}
