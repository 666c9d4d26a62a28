package handshake

import (
	"errors"
	"fmt"
	"time"

	"github.com/plexus-ipc/plexus"
)

func rejected(side string, r *Reject) error {
	return plexus.Errorf(r.Code, "%s refused the link: %s", side, r.Message)
}

// reject sends REJECT carrying err's status (best effort: the link is
// being abandoned anyway) and returns err.
func reject(c MsgConn, err error) error {
	var st *plexus.Status
	if !errors.As(err, &st) {
		st = plexus.Errorf(plexus.FailedPrecondition, "%v", err)
	}
	_ = c.Send((&Reject{Code: st.Code, Message: st.Message}).Marshal())
	return err
}

func unexpected(m Message, want string) error {
	return plexus.Errorf(plexus.ProtocolViolation, "handshake: got %s, want %s", typeName(m.Type), want)
}

// Host runs the host's side: HELLO, then the plugin's REPLY, which check
// accepts (ACCEPT is sent) or refuses (REJECT carrying its error is sent).
// It returns the accepted reply. Every error is a *plexus.Status.
func Host(c MsgConn, deadline time.Time, hello *Hello, check func(*Reply) error) (*Reply, error) {
	b, err := hello.Marshal()
	if err != nil {
		return nil, plexus.WithCause(plexus.InvalidArgument, err, "handshake: "+err.Error())
	}
	if err := c.SetDeadline(deadline); err != nil {
		return nil, plexus.WithCause(plexus.Internal, err, "handshake: "+err.Error())
	}
	defer c.SetDeadline(time.Time{})
	if err := c.Send(b); err != nil {
		return nil, err
	}
	m, err := c.Recv()
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
	if err := c.Send(MarshalAccept()); err != nil {
		return nil, err
	}
	return r, nil
}

// Plugin runs the plugin's side: it reads HELLO, asks answer for a REPLY
// (an error is sent as REJECT and returned), and waits for the host's
// verdict. Every error is a *plexus.Status.
func Plugin(c MsgConn, deadline time.Time, answer func(*Hello) (*Reply, error)) (*Hello, *Reply, error) {
	if err := c.SetDeadline(deadline); err != nil {
		return nil, nil, plexus.WithCause(plexus.Internal, err, "handshake: "+err.Error())
	}
	defer c.SetDeadline(time.Time{})
	m, err := c.Recv()
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
	if err := c.Send(b); err != nil {
		return m.Hello, nil, err
	}
	v, err := c.Recv()
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
