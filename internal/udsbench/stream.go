package udsbench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"
)

// sinkMode is peerEnv's value that makes the peer a sink (StartSink).
const sinkMode = "sink"

// Sink reads MsgSize-byte messages on conn until the other end ends its
// side (EOF between messages), then writes their count (8 bytes, little
// endian) and returns. It reads through a 64 KiB buffer, as a reader of a
// stream of small messages would.
func Sink(conn *net.UnixConn) error {
	r := bufio.NewReaderSize(conn, 64<<10)
	buf := make([]byte, MsgSize)
	var n uint64
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			if err != io.EOF {
				return fmt.Errorf("udsbench: sink: read: %w", err)
			}
			break
		}
		if binary.LittleEndian.Uint64(buf) != n {
			return fmt.Errorf("udsbench: sink: message %d arrived as %d", n, binary.LittleEndian.Uint64(buf))
		}
		n++
	}
	_, err := conn.Write(binary.LittleEndian.AppendUint64(nil, n))
	return err
}

// StartSink starts a sink peer (see Sink): this binary re-executed, as
// StartPeer does.
func StartSink() (*Peer, error) { return startMode(sinkMode) }

// Stream writes MsgSize-byte messages on conn to a sink for about d, one
// write each (a message sent as soon as it is ready), ends its side and
// returns the messages per second the sink counted, checking its count.
// A sink serves one Stream.
func Stream(conn *net.UnixConn, d time.Duration) (float64, error) {
	msg := make([]byte, MsgSize)
	var sent uint64
	start := time.Now()
	deadline := start.Add(d)
	for sent%1024 != 0 || time.Now().Before(deadline) {
		fill(msg, sent)
		if _, err := conn.Write(msg); err != nil {
			return 0, fmt.Errorf("udsbench: stream: write %d: %w", sent, err)
		}
		sent++
	}
	if err := conn.CloseWrite(); err != nil {
		return 0, fmt.Errorf("udsbench: stream: %w", err)
	}
	var count [8]byte
	if _, err := io.ReadFull(conn, count[:]); err != nil {
		return 0, fmt.Errorf("udsbench: stream: count: %w", err)
	}
	el := time.Since(start)
	if got := binary.LittleEndian.Uint64(count[:]); got != sent {
		return 0, fmt.Errorf("udsbench: stream: the sink counted %d of %d messages", got, sent)
	}
	return float64(sent) / el.Seconds(), nil
}
