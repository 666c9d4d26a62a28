//go:build !(linux || darwin || openbsd)

package stream

// writev writes both buffers of iov, one after the other (see
// writev_sys.go): elsewhere golang.org/x/sys/unix has no Writev.
func writev(conn Conn, iov *[2][]byte) error { return writeEach(conn, iov) }
