//go:build unix

package stream

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/sockconn"
)

// ChildPair returns the two ends of an AF_UNIX stream socketpair, both
// close-on-exec: this process's as a Conn on the runtime poller, and the
// other as a file to hand to a child process (exec.Cmd.ExtraFiles, which
// clears close-on-exec on the child's copy). The caller closes the file
// once the child has it.
func ChildPair() (Conn, *os.File, error) {
	a, b, err := sockconn.Socketpair(unix.SOCK_STREAM)
	if err != nil {
		return nil, nil, err
	}
	c, err := sockconn.FromFD(a, "plexus-pair-a") // closes a if it fails
	if err != nil {
		_ = unix.Close(b)
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(b), "plexus-pair-b"), nil
}

func socketPair() (Conn, Conn, error) {
	a, b, err := sockconn.Pair(unix.SOCK_STREAM)
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}
