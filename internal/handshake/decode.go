package handshake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/plexus-ipc/plexus"
)

var errShort = errors.New("truncated")

// reader consumes a message; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (r *reader) str(n int) string { return string(r.take(n)) }

func (r *reader) limits() Limits {
	return Limits{MaxPayload: r.u32(), ChannelWindow: r.u32(), LinkWindow: r.u32()}
}

// Decode parses and validates one message.
func Decode(b []byte) (Message, error) {
	if err := checkHeader(b); err != nil {
		return Message{}, err
	}
	t := Type(b[4])
	body, ok := bodyDecoders[t]
	if !ok {
		return Message{Type: t}, fmt.Errorf("handshake: unknown message type %d", t)
	}
	r := &reader{b: b[headerSize:]}
	m := Message{Type: t}
	verr, err := body(r, &m)
	if err != nil {
		return Message{Type: t}, err
	}
	// A short or long body is reported before what it says is wrong: a
	// validation error of a malformed message would be misleading.
	if r.err != nil {
		return Message{}, fmt.Errorf("handshake: %s message: %w", typeName(t), r.err)
	}
	if len(r.b) != 0 {
		return Message{}, fmt.Errorf("handshake: %s message has %d trailing bytes", typeName(t), len(r.b))
	}
	if verr != nil {
		return Message{}, fmt.Errorf("handshake: %s message: %w", typeName(t), verr)
	}
	return m, nil
}

// checkHeader checks the size, magic and reserved byte of a message.
func checkHeader(b []byte) error {
	if len(b) > MaxMessage {
		return fmt.Errorf("handshake: message of %d bytes exceeds %d", len(b), MaxMessage)
	}
	if len(b) < headerSize || string(b[:4]) != Magic {
		return errors.New("handshake: not a plexus handshake message (bad magic)")
	}
	if b[5] != 0 {
		return fmt.Errorf("handshake: reserved byte is %#x, not zero", b[5])
	}
	return nil
}

// bodyDecoder reads the body of one message type from r into m. A count
// above its bound fails at once (err), before anything is allocated for
// it; what validation finds wrong (verr) waits until the body is known to
// be whole and exact. A short body leaves r.err set.
type bodyDecoder func(r *reader, m *Message) (verr, err error)

var bodyDecoders = map[Type]bodyDecoder{
	TypeHello:  decodeHello,
	TypeReply:  decodeReply,
	TypeAccept: func(*reader, *Message) (error, error) { return nil, nil }, // no body
	TypeReject: decodeReject,
}

func decodeHello(r *reader, m *Message) (verr, err error) {
	h := &Hello{MinProtocol: r.u16(), MaxProtocol: r.u16()}
	h.Cookie = r.str(int(r.u16()))
	n := int(r.u16())
	if n > MaxVersions {
		return nil, fmt.Errorf("handshake: HELLO lists %d versions, at most %d allowed", n, MaxVersions)
	}
	for i := 0; i < n && r.err == nil; i++ {
		h.Versions = append(h.Versions, r.u32())
	}
	h.Limits = r.limits()
	m.Hello = h
	return h.validate(), nil
}

// decodeReply reads a REPLY. Its protocol field, which comes first,
// says whether the host services follow the services (protocol 3 on).
func decodeReply(r *reader, m *Message) (verr, err error) {
	p := &Reply{Protocol: r.u16(), Version: r.u32(), Limits: r.limits()}
	if p.Services, err = decodeServices(r, ""); err != nil {
		return nil, err
	}
	if p.Protocol >= HostServicesProtocol {
		if p.HostServices, err = decodeServices(r, "host "); err != nil {
			return nil, err
		}
	}
	m.Reply = p
	return p.validate(), nil
}

// decodeServices reads a count and that many services; what qualifies
// "services" in its errors.
func decodeServices(r *reader, what string) ([]Service, error) {
	ns := int(r.u16())
	if ns > MaxServices {
		return nil, fmt.Errorf("handshake: REPLY lists %d %sservices, at most %d allowed", ns, what, MaxServices)
	}
	var out []Service
	for i := 0; i < ns && r.err == nil; i++ {
		s, err := decodeService(r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// decodeService reads one service of a REPLY: its name and its methods.
func decodeService(r *reader) (Service, error) {
	s := Service{Name: r.str(int(r.u8()))}
	nm := int(r.u16())
	if nm > MaxMethods {
		return s, fmt.Errorf("handshake: service %q lists %d methods, at most %d allowed", s.Name, nm, MaxMethods)
	}
	for j := 0; j < nm && r.err == nil; j++ {
		s.Methods = append(s.Methods, Method{Name: r.str(int(r.u8())), ID: r.u64(), Signature: r.u64()})
	}
	return s, nil
}

// decodeReject reads a REJECT. Its reason and code are judged only when
// the body was whole; a reject with status OK is the worse fault, so it
// is the one reported when both are wrong.
func decodeReject(r *reader, m *Message) (verr, err error) {
	j := &Reject{Code: plexus.Code(r.u32())}
	j.Message = r.str(int(r.u16()))
	if r.err == nil && (len(j.Message) > MaxReasonLen || !utf8.ValidString(j.Message)) {
		verr = errors.New("reject reason is too long or not UTF-8")
	}
	if r.err == nil && j.Code == plexus.OK {
		verr = errors.New("reject with status OK")
	}
	m.Reject = j
	return verr, nil
}

func typeName(t Type) string {
	switch t {
	case TypeHello:
		return "HELLO"
	case TypeReply:
		return "REPLY"
	case TypeAccept:
		return "ACCEPT"
	case TypeReject:
		return "REJECT"
	}
	return fmt.Sprintf("type-%d", t)
}
