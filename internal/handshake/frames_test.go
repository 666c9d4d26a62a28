//go:build unix

package handshake

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/transport/stream"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

// streamPair returns the two ends of a real AF_UNIX stream socketpair on
// the runtime poller, so that deadlines behave as they do on a link's
// socket (net.Pipe's do too, but it has no kernel buffer: a write there
// waits for the reader, which hides what a real socket does).
func streamPair(t *testing.T) (stream.Conn, stream.Conn) {
	t.Helper()
	a, f, err := stream.ChildPair()
	require.NoError(t, err)
	b, err := net.FileConn(f)
	f.Close()
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// frame is b with its 4-byte big-endian length in front.
func frame(b []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	return append(out, b...)
}

// writeAll writes b to c within a bounded time.
func writeAll(t *testing.T, c stream.Conn, b []byte) {
	t.Helper()
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(5*time.Second)))
	_, err := c.Write(b)
	require.NoError(t, err)
	require.NoError(t, c.SetWriteDeadline(time.Time{}))
}

type pluginResult struct {
	hello *Hello
	reply *Reply
	err   error
}

// converseFrames runs both sides over Frames on a real stream socketpair.
func converseFrames(t *testing.T, hello *Hello, check func(*Reply) error, answer func(*Hello) (*Reply, error)) (*Reply, pluginResult, error) {
	t.Helper()
	h, p := streamPair(t)
	dl := time.Now().Add(5 * time.Second)
	done := make(chan pluginResult, 1)
	go func() {
		hl, r, err := Plugin(Frames(p), dl, answer)
		done <- pluginResult{hl, r, err}
	}()
	reply, hostErr := Host(Frames(h), dl, hello, check)
	select {
	case pr := <-done:
		return reply, pr, hostErr
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin side did not finish")
		return nil, pluginResult{}, nil
	}
}

func TestFramesConversation(t *testing.T) {
	answer := func(h *Hello) (*Reply, error) {
		if h.Cookie != "plexus-test=1" {
			return nil, plexus.Errorf(plexus.Unauthenticated, "wrong cookie")
		}
		v, err := NegotiateVersion(h.Versions, []uint32{2, 3})
		if err != nil {
			return nil, err
		}
		r := sampleReply()
		r.Version = v
		return r, nil
	}

	t.Run("accepted", func(t *testing.T) {
		reply, p, hErr := converseFrames(t, sampleHello(), nil, answer)
		require.NoError(t, hErr)
		require.NoError(t, p.err)
		require.Equal(t, sampleReply(), reply) // version 2: the highest in both lists
		require.Equal(t, sampleHello(), p.hello)
		require.Equal(t, sampleReply(), p.reply)
	})

	t.Run("wrong cookie", func(t *testing.T) {
		bad := sampleHello()
		bad.Cookie = "nope"
		reply, p, hErr := converseFrames(t, bad, nil, answer)
		require.Nil(t, reply)
		require.True(t, errors.Is(hErr, &plexus.Status{Code: plexus.Unauthenticated}), "%v", hErr)
		require.ErrorContains(t, hErr, "plugin refused the link: wrong cookie")
		require.True(t, errors.Is(p.err, &plexus.Status{Code: plexus.Unauthenticated}), "%v", p.err)
		require.ErrorContains(t, p.err, "wrong cookie")
		require.Nil(t, p.reply)
	})

	t.Run("no common version", func(t *testing.T) {
		mism := sampleHello()
		mism.Versions = []uint32{7}
		_, p, hErr := converseFrames(t, mism, nil, answer)
		require.True(t, errors.Is(hErr, plexus.ErrVersionMismatch), "%v", hErr)
		require.ErrorContains(t, hErr, "host supports [7], plugin supports [2 3]")
		require.True(t, errors.Is(p.err, plexus.ErrVersionMismatch), "%v", p.err)
	})

	t.Run("host refuses the reply", func(t *testing.T) {
		reply, p, hErr := converseFrames(t, sampleHello(), func(*Reply) error {
			return plexus.Errorf(plexus.VersionMismatch, "method x differs")
		}, answer)
		require.Nil(t, reply)
		require.ErrorContains(t, hErr, "method x differs")
		require.True(t, errors.Is(p.err, plexus.ErrVersionMismatch), "%v", p.err)
		require.ErrorContains(t, p.err, "host refused the link: method x differs")
		require.Nil(t, p.reply)
	})

	t.Run("plugin states another max payload", func(t *testing.T) {
		_, p, hErr := converseFrames(t, sampleHello(), nil, func(h *Hello) (*Reply, error) {
			r := sampleReply()
			r.Limits.MaxPayload = h.Limits.MaxPayload / 2
			return r, nil
		})
		require.True(t, errors.Is(hErr, plexus.ErrProtocolViolation), "%v", hErr)
		require.ErrorContains(t, hErr, "max payload")
		require.True(t, errors.Is(p.err, plexus.ErrProtocolViolation), "%v", p.err)
		require.ErrorContains(t, p.err, "host refused the link")
	})
}

// TestFramesWireFormat: Send writes the 4-byte big-endian length and the
// message, nothing else.
func TestFramesWireFormat(t *testing.T) {
	a, b := streamPair(t)
	msg, err := sampleHello().Marshal()
	require.NoError(t, err)
	require.NoError(t, Frames(a).Send(msg))
	require.NoError(t, a.Close()) // so that reading to EOF ends

	require.NoError(t, b.SetReadDeadline(time.Now().Add(5*time.Second)))
	got, err := io.ReadAll(b)
	require.NoError(t, err)
	require.Equal(t, frame(msg), got)
}

func TestReadFrameRefusesLength(t *testing.T) {
	const trailer = "the rest of the stream"
	for _, n := range []uint32{0, MaxMessage + 1, 1 << 31, 1<<32 - 1} {
		in := append(binary.BigEndian.AppendUint32(nil, n), trailer...)
		r := bytes.NewReader(in)
		b, err := ReadFrame(r)
		require.Nil(t, b, "length %d", n)
		require.True(t, errors.Is(err, plexus.ErrProtocolViolation), "length %d: %v", n, err)
		require.ErrorContains(t, err, "1 to 65536 allowed")
		require.Equal(t, len(trailer), r.Len(), "length %d: bytes beyond the length were read", n)
	}

	// The limits themselves are allowed.
	for _, n := range []int{1, MaxMessage} {
		body := bytes.Repeat([]byte{0xa5}, n)
		r := bytes.NewReader(append(frame(body), trailer...))
		b, err := ReadFrame(r)
		require.NoError(t, err, "length %d", n)
		require.Equal(t, body, b)
		require.Equal(t, len(trailer), r.Len())
	}
}

// TestFramesRefusesLength: over a socket, a refused length is a protocol
// violation of Recv too, and the bytes after it stay unread.
func TestFramesRefusesLength(t *testing.T) {
	a, b := streamPair(t)
	writeAll(t, a, append(binary.BigEndian.AppendUint32(nil, MaxMessage+1), "next"...))
	fc := Frames(b)
	require.NoError(t, fc.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := fc.Recv()
	require.True(t, errors.Is(err, plexus.ErrProtocolViolation), "%v", err)
	rest := make([]byte, 4)
	_, err = io.ReadFull(b, rest)
	require.NoError(t, err)
	require.Equal(t, "next", string(rest))
}

// TestFramesUndecodable: a well-framed message that is not a handshake
// message is a protocol violation.
func TestFramesUndecodable(t *testing.T) {
	a, b := streamPair(t)
	writeAll(t, a, frame([]byte("GET / HTTP/1.1\r\n")))
	fc := Frames(b)
	require.NoError(t, fc.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := fc.Recv()
	require.True(t, errors.Is(err, plexus.ErrProtocolViolation), "%v", err)
}

func TestFramesPeerDied(t *testing.T) {
	hello, err := sampleHello().Marshal()
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		written []byte
	}{
		{"before anything", nil},
		{"inside the length", []byte{0, 0}},
		{"after the length", frame(hello)[:4]},
		{"inside the message", frame(hello)[:4+len(hello)/2]},
		{"one byte short", frame(hello)[:4+len(hello)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := streamPair(t)
			if len(tc.written) > 0 {
				writeAll(t, a, tc.written)
			}
			require.NoError(t, a.Close())
			fc := Frames(b)
			require.NoError(t, fc.SetDeadline(time.Now().Add(5*time.Second)))
			m, err := fc.Recv()
			require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
			require.Equal(t, Message{}, m)
		})
	}

	// The host learns it the same way when the plugin exits unanswered.
	h, p := streamPair(t)
	require.NoError(t, p.Close())
	_, err = Host(Frames(h), time.Now().Add(5*time.Second), sampleHello(), nil)
	require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
}

func TestFramesDeadline(t *testing.T) {
	hello, err := sampleHello().Marshal()
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		written []byte
	}{
		{"nothing sent", nil},
		{"half a length", []byte{0, 0}},
		{"half a message", frame(hello)[:4+len(hello)/2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := streamPair(t)
			if len(tc.written) > 0 {
				writeAll(t, a, tc.written)
			}
			fc := Frames(b)
			require.NoError(t, fc.SetDeadline(time.Now().Add(50*time.Millisecond)))
			start := time.Now()
			_, err := fc.Recv()
			require.True(t, errors.Is(err, plexus.ErrDeadlineExceeded), "%v", err)
			require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "the cause stays reachable: %v", err)
			require.Less(t, time.Since(start), 5*time.Second)
		})
	}

	// Both sides of the conversation give up at their deadline.
	h, p := streamPair(t)
	_, err = Host(Frames(h), time.Now().Add(50*time.Millisecond), sampleHello(), nil)
	require.True(t, errors.Is(err, plexus.ErrDeadlineExceeded), "%v", err)
	_, _, err = Plugin(Frames(p), time.Now().Add(50*time.Millisecond), func(*Hello) (*Reply, error) {
		return sampleReply(), nil // the host never sends ACCEPT
	})
	require.True(t, errors.Is(err, plexus.ErrDeadlineExceeded), "%v", err)
}

// TestFramesSendDeadline: a Send that the peer does not drain before the
// deadline reports DeadlineExceeded, as Recv does, not PeerDied.
func TestFramesSendDeadline(t *testing.T) {
	a, _ := streamPair(t)
	fc := Frames(a)
	require.NoError(t, fc.SetDeadline(time.Now().Add(50*time.Millisecond)))
	big := bytes.Repeat([]byte{1}, MaxMessage)
	var err error
	// The socket buffer takes a few messages before a write blocks; the
	// peer never reads, so one of these runs into the deadline.
	for i := 0; i < 1000 && err == nil; i++ {
		err = fc.Send(big)
	}
	require.True(t, errors.Is(err, plexus.ErrDeadlineExceeded), "%v", err)
}

// TestFramesReadsOneMessage: Recv takes exactly one message's bytes off
// the connection, so that what the peer wrote after it (the stream
// transport's first frame) is still there for the next reader, even when
// it arrived in the same segment.
func TestFramesReadsOneMessage(t *testing.T) {
	a, b := streamPair(t)
	accept := MarshalAccept()
	extra := []byte("\x00\x00\x00\x40first frame of the link, written at once")
	writeAll(t, a, append(frame(accept), extra...))

	fc := Frames(b)
	require.NoError(t, fc.SetDeadline(time.Now().Add(5*time.Second)))
	m, err := fc.Recv()
	require.NoError(t, err)
	require.Equal(t, TypeAccept, m.Type)

	got := make([]byte, len(extra))
	_, err = io.ReadFull(b, got)
	require.NoError(t, err)
	require.Equal(t, extra, got)

	// And nothing more was there.
	require.NoError(t, a.Close())
	n, err := b.Read(make([]byte, 1))
	require.Equal(t, 0, n)
	require.ErrorIs(t, err, io.EOF)

	// Two messages in one write are received one at a time.
	c, d := streamPair(t)
	hello, err := sampleHello().Marshal()
	require.NoError(t, err)
	writeAll(t, c, append(frame(hello), frame(accept)...))
	fd := Frames(d)
	require.NoError(t, fd.SetDeadline(time.Now().Add(5*time.Second)))
	m, err = fd.Recv()
	require.NoError(t, err)
	require.Equal(t, TypeHello, m.Type)
	require.Equal(t, sampleHello(), m.Hello)
	m, err = fd.Recv()
	require.NoError(t, err)
	require.Equal(t, TypeAccept, m.Type)
}
