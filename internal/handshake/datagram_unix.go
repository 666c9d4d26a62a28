//go:build unix

package handshake

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/sockconn"
)

// Datagrams returns a MsgConn that carries each message as one datagram
// of the SOCK_SEQPACKET control socket c (the shared-memory link's).
func Datagrams(c *sockconn.Conn) MsgConn { return datagrams{c} }

type datagrams struct{ c *sockconn.Conn }

func (d datagrams) SetDeadline(t time.Time) error { return d.c.SetDeadline(t) }

// Send writes one datagram.
func (d datagrams) Send(b []byte) error {
	if _, err := d.c.Write(b); err != nil {
		return sendErr(err)
	}
	return nil
}

// Recv reads one datagram and decodes it. A datagram that carries
// descriptors or was cut short is refused (and its descriptors closed).
func (d datagrams) Recv() (Message, error) {
	buf := make([]byte, MaxMessage+1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, err := d.c.ReadMsg(buf, oob)
	if oobn > 0 {
		closeRights(oob[:oobn])
	}
	if err != nil {
		return Message{}, recvErr(err)
	}
	if n == 0 {
		return Message{}, plexus.Errorf(plexus.PeerDied, "handshake: the peer closed the control socket (it exited or refused the link)")
	}
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 || oobn > 0 {
		return Message{}, plexus.Errorf(plexus.ProtocolViolation, "handshake: datagram truncated or carrying descriptors")
	}
	m, err := Decode(buf[:n])
	if err != nil {
		return Message{}, plexus.WithCause(plexus.ProtocolViolation, err, err.Error())
	}
	return m, nil
}

func closeRights(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				_ = unix.Close(fd)
			}
		}
	}
}
