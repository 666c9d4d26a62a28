package handshake

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
)

// send writes one datagram.
func send(c *net.UnixConn, b []byte) error {
	if _, err := c.Write(b); err != nil {
		return plexus.WithCause(plexus.PeerDied, err, "handshake: send: "+err.Error())
	}
	return nil
}

// recv reads one datagram and decodes it. A datagram that carries
// descriptors or was cut short is refused (and its descriptors closed).
func recv(c *net.UnixConn) (Message, error) {
	buf := make([]byte, MaxMessage+1)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if oobn > 0 {
		closeRights(oob[:oobn])
	}
	if err != nil || n == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			return Message{}, plexus.Errorf(plexus.PeerDied, "handshake: the peer closed the control socket (it exited or refused the link)")
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return Message{}, plexus.WithCause(plexus.DeadlineExceeded, err, "handshake: the peer did not answer in time")
		}
		return Message{}, plexus.WithCause(plexus.PeerDied, err, "handshake: receive: "+err.Error())
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

func rejected(side string, r *Reject) error {
	return plexus.Errorf(r.Code, "%s refused the link: %s", side, r.Message)
}

// reject sends REJECT carrying err's status (best effort: the link is
// being abandoned anyway) and returns err.
func reject(c *net.UnixConn, err error) error {
	var st *plexus.Status
	if !errors.As(err, &st) {
		st = plexus.Errorf(plexus.FailedPrecondition, "%v", err)
	}
	_ = send(c, (&Reject{Code: st.Code, Message: st.Message}).Marshal())
	return err
}

func unexpected(m Message, want string) error {
	return plexus.Errorf(plexus.ProtocolViolation, "handshake: got %s, want %s", typeName(m.Type), want)
}

// Host runs the host's side: HELLO, then the plugin's REPLY, which check
// accepts (ACCEPT is sent) or refuses (REJECT carrying its error is sent).
// It returns the accepted reply. Every error is a *plexus.Status.
func Host(c *net.UnixConn, deadline time.Time, hello *Hello, check func(*Reply) error) (*Reply, error) {
	b, err := hello.Marshal()
	if err != nil {
		return nil, plexus.WithCause(plexus.InvalidArgument, err, "handshake: "+err.Error())
	}
	if err := c.SetDeadline(deadline); err != nil {
		return nil, plexus.WithCause(plexus.Internal, err, "handshake: "+err.Error())
	}
	defer c.SetDeadline(time.Time{})
	if err := send(c, b); err != nil {
		return nil, err
	}
	m, err := recv(c)
	if err != nil {
		return nil, err
	}
	switch m.Type {
	case TypeReject:
		return nil, rejected("plugin", m.Reject)
	case TypeReply:
	default:
		return nil, reject(c, unexpected(m, "REPLY or REJECT"))
	}
	r := m.Reply
	if _, err := NegotiateProtocol(hello.MinProtocol, hello.MaxProtocol, r.Protocol, r.Protocol); err != nil {
		return nil, reject(c, plexus.Errorf(plexus.ProtocolViolation, "plugin chose link protocol %d, outside the host's %d..%d",
			r.Protocol, hello.MinProtocol, hello.MaxProtocol))
	}
	if _, err := NegotiateVersion(hello.Versions, []uint32{r.Version}); err != nil {
		return nil, reject(c, plexus.Errorf(plexus.ProtocolViolation, "plugin chose version %d, which the host did not offer (%s)",
			r.Version, list(hello.Versions)))
	}
	if r.Limits.MaxPayload != hello.Limits.MaxPayload {
		return nil, reject(c, plexus.Errorf(plexus.ProtocolViolation, "plugin states max payload %d, the link's is %d",
			r.Limits.MaxPayload, hello.Limits.MaxPayload))
	}
	if check != nil {
		if err := check(r); err != nil {
			return nil, reject(c, err)
		}
	}
	if err := send(c, MarshalAccept()); err != nil {
		return nil, err
	}
	return r, nil
}

// Plugin runs the plugin's side: it reads HELLO, asks answer for a REPLY
// (an error is sent as REJECT and returned), and waits for the host's
// verdict. Every error is a *plexus.Status.
func Plugin(c *net.UnixConn, deadline time.Time, answer func(*Hello) (*Reply, error)) (*Hello, *Reply, error) {
	if err := c.SetDeadline(deadline); err != nil {
		return nil, nil, plexus.WithCause(plexus.Internal, err, "handshake: "+err.Error())
	}
	defer c.SetDeadline(time.Time{})
	m, err := recv(c)
	if err != nil {
		return nil, nil, err
	}
	if m.Type != TypeHello {
		return nil, nil, reject(c, unexpected(m, "HELLO"))
	}
	r, err := answer(m.Hello)
	if err != nil {
		return m.Hello, nil, reject(c, err)
	}
	b, err := r.Marshal()
	if err != nil {
		return m.Hello, nil, reject(c, plexus.Errorf(plexus.Internal, "plugin cannot describe its services: %v", err))
	}
	if err := send(c, b); err != nil {
		return m.Hello, nil, err
	}
	v, err := recv(c)
	if err != nil {
		return m.Hello, nil, err
	}
	switch v.Type {
	case TypeAccept:
		return m.Hello, r, nil
	case TypeReject:
		return m.Hello, nil, rejected("host", v.Reject)
	}
	return m.Hello, nil, unexpected(v, "ACCEPT or REJECT")
}

// String describes a reply for logs.
func (r *Reply) String() string {
	return fmt.Sprintf("protocol %d, version %d, %d services", r.Protocol, r.Version, len(r.Services))
}
