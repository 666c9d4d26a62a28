package handshake

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"time"

	"github.com/plexus-ipc/plexus"
)

// MsgConn carries the handshake's messages, one at a time in each
// direction. A link's control socket is one: datagrams on the shared-memory
// link's SOCK_SEQPACKET socket (Datagrams), length-prefixed frames on a
// byte stream (Frames) for the socket link and for attaching to a running
// plugin. Both report errors as *plexus.Status: PeerDied when the peer
// closed the connection, DeadlineExceeded past the deadline,
// ProtocolViolation for a message that does not decode.
type MsgConn interface {
	Send(b []byte) error
	Recv() (Message, error)
	SetDeadline(t time.Time) error
}

// Frames returns a MsgConn that carries each message on the byte stream c
// as a 4-byte big-endian length and the message (SPEC.md "Handshake on a
// byte stream"). It reads exactly one message's bytes at a time, never
// more, so that the stream transport that takes c over afterwards finds
// the first frame where the peer wrote it.
func Frames(c ByteConn) MsgConn { return frames{c} }

// ByteConn is the byte stream Frames runs on: a net.Conn is one, and so is
// a socket adopted without package net (internal/sockconn), as a plugin
// holds its socket link.
type ByteConn interface {
	io.Reader
	io.Writer
	SetDeadline(t time.Time) error
}

type frames struct{ c ByteConn }

func (f frames) SetDeadline(t time.Time) error { return f.c.SetDeadline(t) }

func (f frames) Send(b []byte) error {
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	if _, err := f.c.Write(buf); err != nil {
		return sendErr(err)
	}
	return nil
}

// sendErr is the status of a failed write of a handshake message: the
// peer did not drain the socket before the deadline (a message larger
// than the socket's buffer), or it is gone.
func sendErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return plexus.WithCause(plexus.DeadlineExceeded, err, "handshake: the peer did not take the message in time")
	}
	return plexus.WithCause(plexus.PeerDied, err, "handshake: send: "+err.Error())
}

func (f frames) Recv() (Message, error) {
	b, err := ReadFrame(f.c)
	if err != nil {
		return Message{}, err
	}
	m, err := Decode(b)
	if err != nil {
		return Message{}, plexus.WithCause(plexus.ProtocolViolation, err, err.Error())
	}
	return m, nil
}

// ReadFrame reads one length-prefixed message from r: its length must be
// 1 to MaxMessage bytes, or the stream is not a plexus handshake (a
// ProtocolViolation; nothing beyond the length is read then).
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, recvErr(err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > MaxMessage {
		return nil, plexus.Errorf(plexus.ProtocolViolation,
			"handshake: message of %d bytes announced, 1 to %d allowed (is the peer a plexus host or plugin?)", n, MaxMessage)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, recvErr(err)
	}
	return b, nil
}

// recvErr is the status of a failed read of a handshake message.
func recvErr(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return plexus.Errorf(plexus.PeerDied, "handshake: the peer closed the control socket (it exited or refused the link)")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return plexus.WithCause(plexus.DeadlineExceeded, err, "handshake: the peer did not answer in time")
	}
	return plexus.WithCause(plexus.PeerDied, err, "handshake: receive: "+err.Error())
}
