package sockconn

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestMessages: a SEQPACKET pair keeps message boundaries and carries a
// descriptor, which arrives close-on-exec and names the same file.
func TestMessages(t *testing.T) {
	a, b, err := Pair(unix.SOCK_SEQPACKET)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	f, err := os.CreateTemp(t.TempDir(), "passed")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteString("through the socket")
	require.NoError(t, err)

	n, err := a.WriteMsg([]byte("one"), unix.UnixRights(int(f.Fd())))
	require.NoError(t, err)
	require.Equal(t, 3, n)
	_, err = a.WriteMsg([]byte("second"), nil)
	require.NoError(t, err)

	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, err := b.ReadMsg(buf, oob)
	require.NoError(t, err)
	require.Equal(t, "one", string(buf[:n]), "one message, not both")
	require.Zero(t, flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC))
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	fds, err := unix.ParseUnixRights(&msgs[0])
	require.NoError(t, err)
	require.Len(t, fds, 1)
	got := os.NewFile(uintptr(fds[0]), "received")
	defer got.Close()
	fl, err := unix.FcntlInt(got.Fd(), unix.F_GETFD, 0)
	require.NoError(t, err)
	require.NotZero(t, fl&unix.FD_CLOEXEC, "received descriptors are close-on-exec")
	content, err := os.ReadFile("/proc/self/fd/" + itoa(fds[0]))
	require.NoError(t, err)
	require.Equal(t, "through the socket", string(content))

	n, _, _, err = b.ReadMsg(buf, oob)
	require.NoError(t, err)
	require.Equal(t, "second", string(buf[:n]))
}

// TestDeadlinesAndEnds: a read past its deadline fails with
// os.ErrDeadlineExceeded; CloseWrite makes the peer read end of file
// (ReadMsg: 0 bytes, Read: io.EOF); Close ends a read pending on the
// poller with os.ErrClosed.
func TestDeadlinesAndEnds(t *testing.T) {
	a, b, err := Pair(unix.SOCK_STREAM)
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, b.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = b.Read(make([]byte, 1))
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
	require.NoError(t, b.SetReadDeadline(time.Time{}))

	_, err = a.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, a.CloseWrite())
	buf := make([]byte, 4)
	n, err := b.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "x", string(buf[:n]))
	_, err = b.Read(buf)
	require.Equal(t, io.EOF, err)
	require.NoError(t, a.Close())

	c, d, err := Pair(unix.SOCK_SEQPACKET)
	require.NoError(t, err)
	defer d.Close()
	done := make(chan error, 1)
	go func() {
		_, _, _, err := c.ReadMsg(buf, nil)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // (either way Close ends it: pending or not yet begun)
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		require.True(t, errors.Is(err, os.ErrClosed), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the pending read")
	}
	n, _, _, err = d.ReadMsg(buf, nil)
	require.NoError(t, err)
	require.Zero(t, n, "the peer reads end of file")
}

// TestFromFDFails: a descriptor that cannot be made non-blocking is
// refused.
func TestFromFDFails(t *testing.T) {
	_, err := FromFD(-1, "bad")
	require.Error(t, err)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestDial: Dial connects to a listening Unix socket; the bytes cross
// both ways, and a path nobody listens at fails naming it.
func TestDial(t *testing.T) {
	path := t.TempDir() + "/s"
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	defer ln.Close()
	c, err := Dial(path)
	require.NoError(t, err)
	defer c.Close()
	s, err := ln.Accept()
	require.NoError(t, err)
	defer s.Close()
	_, err = c.Write([]byte("hi"))
	require.NoError(t, err)
	buf := make([]byte, 2)
	_, err = io.ReadFull(s, buf)
	require.NoError(t, err)
	require.Equal(t, "hi", string(buf))
	_, err = s.Write([]byte("yo"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "yo", string(buf))

	_, err = Dial(path + "-none")
	require.ErrorContains(t, err, path+"-none")
}
