package stream

// writeEach writes the buffers of iov one after the other: for a
// connection that does not expose its descriptor (see writev).
func writeEach(conn Conn, iov *[2][]byte) error {
	for _, b := range iov {
		if len(b) == 0 {
			continue
		}
		if _, err := conn.Write(b); err != nil {
			return err
		}
	}
	return nil
}
