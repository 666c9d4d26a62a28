//go:build !(linux || darwin || openbsd)

package stream

// vecWriter writes a frame's buffers one after the other (see
// writev_sys.go): elsewhere golang.org/x/sys/unix has no Writev.
type vecWriter struct{ conn Conn }

func (w *vecWriter) init(conn Conn) { w.conn = conn }

func (w *vecWriter) writev(iov *[2][]byte) error { return writeEach(w.conn, iov) }
