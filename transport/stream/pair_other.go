//go:build !unix && !windows

package stream

import "net"

// socketPair is an in-memory pipe where there are no sockets to pair
// (js/wasm in a browser, wasip1): enough for the in-process tests and
// conformance envs that build there.
func socketPair() (net.Conn, net.Conn, error) {
	a, b := net.Pipe()
	return a, b, nil
}
