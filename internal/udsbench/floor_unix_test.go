//go:build unix

package udsbench

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The floor's echo goes through a real peer process serving with blocking
// system calls, every echo checked, and the peer exits cleanly at EOF.
func TestPingPongFloor(t *testing.T) {
	p, err := StartFloorPeer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	const n = 1000
	lat := make([]time.Duration, n)
	require.NoError(t, PingPongFloor(p, n, lat))
	for i, d := range lat {
		require.Positive(t, d, "round trip %d", i)
	}
	t.Logf("%d round trips: p50 %v, p99 %v", n, Percentile(lat, 50), Percentile(lat, 99))
	require.NoError(t, p.Close(), "the peer exits cleanly at EOF")
}

// The floor's content check can fail: an echo of the wrong bytes (here a
// plain echo peer answering a message before the one sent, played by a
// goroutine on the other end of a socketpair) is caught.
func TestPingPongFloorDetectsBadEcho(t *testing.T) {
	a, b := pair(t)
	go func() {
		buf := make([]byte, MsgSize)
		prev := make([]byte, MsgSize)
		for i := 0; ; i++ {
			if _, err := b.Read(buf); err != nil {
				return
			}
			out := buf
			if i == 5 {
				out = prev
			}
			if _, err := b.Write(out); err != nil {
				return
			}
			copy(prev, buf)
		}
	}()
	lat := make([]time.Duration, 10)
	err := PingPongFloor(&Peer{Conn: a}, 10, lat)
	require.ErrorContains(t, err, "round trip 5: echo differs")
}

// A peer that closes between messages ends serveFloor without an error;
// one that closes inside a message is an error.
func TestServeFloorEOF(t *testing.T) {
	fds, err := socketpair()
	require.NoError(t, err)
	defer syscall.Close(fds[0])
	done := make(chan error, 1)
	go func() { done <- serveFloor(fds[1]) }()
	_, err = syscall.Write(fds[0], make([]byte, MsgSize))
	require.NoError(t, err)
	require.NoError(t, readFull(fds[0], make([]byte, MsgSize)))
	_, err = syscall.Write(fds[0], make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, syscall.Shutdown(fds[0], syscall.SHUT_WR))
	select {
	case err := <-done:
		require.ErrorContains(t, err, "end of file after 10 of 64 bytes")
	case <-time.After(10 * time.Second):
		t.Fatal("serveFloor did not return at EOF")
	}
	syscall.Close(fds[1])
}
