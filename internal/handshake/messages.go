package handshake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/plexus-ipc/plexus"
)

// Magic starts every handshake message.
const Magic = "PXHS"

// The link protocol versions this build speaks. A new wire format raises
// MaxProtocol; both sides use the highest version they share.
//
// Version 2: doorbell eventfds are non-blocking, and a blob buffer is
// sealed against new writers (F_SEAL_FUTURE_WRITE or F_SEAL_WRITE) and a
// blob or buffer memfd has every page allocated (the receiver refuses
// holes, which it would pay for). A version 1 peer's doorbells and
// buffers break these rules, so version 1 is not spoken any more.
//
// Version 3: REPLY also lists the host services the plugin calls
// (Reply.HostServices), which the host checks against the services it
// serves. Nothing else differs from version 2, which is still spoken: a
// handshake message has no optional fields (trailing bytes are refused),
// so a field is added by a protocol version, and HELLO, sent before the
// version is chosen, cannot carry one without breaking every older
// plugin; REPLY, sent after, can.
const (
	MinProtocol uint16 = 2
	MaxProtocol uint16 = 3

	// HostServicesProtocol is the first version whose REPLY carries
	// HostServices.
	HostServicesProtocol uint16 = 3
)

// Bounds on what a peer may send.
const (
	MaxMessage     = 64 << 10 // bytes in one handshake datagram
	MaxVersions    = 64
	MaxServices    = 1024
	MaxMethods     = 4096 // per service
	MaxNameLen     = 255
	MaxCookieLen   = 1024
	MaxReasonLen   = 4096
	MinMaxPayload  = 4 << 10
	MaxWindow      = 1 << 30
	MinChanWindow  = 64 << 10 // session.DefaultChannelWindow
	MinLinkWindow  = 1 << 20  // session.DefaultLinkWindow
	headerSize     = 6        // magic, type, reserved
	maxStringField = 1<<16 - 1
)

// Type is a message type.
type Type uint8

const (
	TypeHello  Type = 1
	TypeReply  Type = 2
	TypeAccept Type = 3
	TypeReject Type = 4
)

// Limits are the link limits each side states. MaxPayload must be the same
// on both ends (the transport treats a larger frame as a violation), so the
// plugin adopts the host's; the windows are what each side grants.
type Limits struct {
	MaxPayload    uint32
	ChannelWindow uint32
	LinkWindow    uint32
}

// Method is one method as both sides must agree on it.
type Method struct {
	Name      string
	ID        uint64 // plexus.MethodID(service, Name)
	Signature uint64 // hash of the request and response types
}

// Service is a named set of methods.
type Service struct {
	Name    string
	Methods []Method
}

// Hello is the host's first message.
type Hello struct {
	MinProtocol, MaxProtocol uint16
	Cookie                   string
	Versions                 []uint32 // strictly increasing
	Limits                   Limits
}

// Reply is the plugin's answer when it can serve the host.
type Reply struct {
	Protocol uint16
	Version  uint32
	Limits   Limits
	Services []Service
	// HostServices are the host's services and methods the plugin calls
	// in Version, for the host to check against what it serves
	// (CheckHostServices). They travel from protocol HostServicesProtocol
	// on; a reply of an earlier protocol has none.
	HostServices []Service
}

// Reject ends a handshake: Code is a plexus status code.
type Reject struct {
	Code    plexus.Code
	Message string
}

// Message is one decoded message; the field matching Type is set.
type Message struct {
	Type   Type
	Hello  *Hello
	Reply  *Reply
	Reject *Reject
}

func header(t Type) []byte {
	b := make([]byte, 0, 256)
	b = append(b, Magic...)
	return append(b, byte(t), 0)
}

func putU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func putU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func putU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
func putStr8(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}
func putStr16(b []byte, s string) []byte {
	return append(putU16(b, uint16(len(s))), s...)
}

func putLimits(b []byte, l Limits) []byte {
	return putU32(putU32(putU32(b, l.MaxPayload), l.ChannelWindow), l.LinkWindow)
}

// Marshal encodes h. It validates h first, so that a host never sends
// what a plugin would refuse.
func (h *Hello) Marshal() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	b := header(TypeHello)
	b = putU16(putU16(b, h.MinProtocol), h.MaxProtocol)
	b = putStr16(b, h.Cookie)
	b = putU16(b, uint16(len(h.Versions)))
	for _, v := range h.Versions {
		b = putU32(b, v)
	}
	b = putLimits(b, h.Limits)
	return checkSize(b)
}

// Marshal encodes r after validating it.
func (r *Reply) Marshal() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	b := header(TypeReply)
	b = putU32(putU16(b, r.Protocol), r.Version)
	b = putLimits(b, r.Limits)
	b = putServices(b, r.Services)
	if r.Protocol >= HostServicesProtocol {
		b = putServices(b, r.HostServices)
	}
	return checkSize(b)
}

// putServices encodes a list of services as REPLY carries them.
func putServices(b []byte, ss []Service) []byte {
	b = putU16(b, uint16(len(ss)))
	for _, s := range ss {
		b = putStr8(b, s.Name)
		b = putU16(b, uint16(len(s.Methods)))
		for _, m := range s.Methods {
			b = putU64(putU64(putStr8(b, m.Name), m.ID), m.Signature)
		}
	}
	return b
}

// Marshal encodes r; an over-long message is cut to MaxReasonLen bytes
// at a rune boundary, so that a reject can always be sent.
func (r *Reject) Marshal() []byte {
	msg := r.Message
	if len(msg) > MaxReasonLen {
		msg = msg[:MaxReasonLen]
		for len(msg) > 0 && !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	if !utf8.ValidString(msg) {
		msg = "(reason not valid UTF-8)"
	}
	return putStr16(putU32(header(TypeReject), uint32(r.Code)), msg)
}

// MarshalAccept encodes ACCEPT.
func MarshalAccept() []byte { return header(TypeAccept) }

func checkSize(b []byte) ([]byte, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("handshake: message of %d bytes exceeds %d (too many services or methods)", len(b), MaxMessage)
	}
	return b, nil
}

func (h *Hello) validate() error {
	if h.MinProtocol == 0 || h.MinProtocol > h.MaxProtocol {
		return fmt.Errorf("protocol range %d..%d is empty or starts at 0", h.MinProtocol, h.MaxProtocol)
	}
	if len(h.Cookie) > MaxCookieLen {
		return fmt.Errorf("cookie of %d bytes exceeds %d", len(h.Cookie), MaxCookieLen)
	}
	if err := checkVersions(h.Versions); err != nil {
		return err
	}
	return h.Limits.validate()
}

// checkVersions requires 1..MaxVersions positive, strictly increasing
// versions.
func checkVersions(vs []uint32) error {
	if len(vs) == 0 || len(vs) > MaxVersions {
		return fmt.Errorf("%d versions listed, want 1..%d", len(vs), MaxVersions)
	}
	for i, v := range vs {
		if v == 0 {
			return errors.New("version 0 is not a version")
		}
		if i > 0 && v <= vs[i-1] {
			return fmt.Errorf("versions %v are not strictly increasing", vs)
		}
	}
	return nil
}

func (l Limits) validate() error {
	switch {
	case l.MaxPayload < MinMaxPayload:
		return fmt.Errorf("max payload %d is below %d", l.MaxPayload, MinMaxPayload)
	case l.ChannelWindow < MinChanWindow || l.ChannelWindow > MaxWindow:
		return fmt.Errorf("channel window %d outside %d..%d", l.ChannelWindow, MinChanWindow, MaxWindow)
	case l.LinkWindow < MinLinkWindow || l.LinkWindow > MaxWindow:
		return fmt.Errorf("link window %d outside %d..%d", l.LinkWindow, MinLinkWindow, MaxWindow)
	}
	return nil
}

func (r *Reply) validate() error {
	if r.Protocol == 0 || r.Version == 0 {
		return errors.New("protocol or version 0")
	}
	if err := r.Limits.validate(); err != nil {
		return err
	}
	if err := checkServices(r.Services, ""); err != nil {
		return err
	}
	if r.Protocol < HostServicesProtocol && len(r.HostServices) > 0 {
		return fmt.Errorf("host services travel from link protocol %d on, the reply's is %d", HostServicesProtocol, r.Protocol)
	}
	return checkServices(r.HostServices, "host ")
}

// checkServices checks a list of services as REPLY carries it: bounded
// counts, valid and unique names, and method IDs that match the names.
// what qualifies "service" in its errors.
func checkServices(ss []Service, what string) error {
	if len(ss) > MaxServices {
		return fmt.Errorf("%d %sservices, at most %d allowed", len(ss), what, MaxServices)
	}
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if err := checkName(s.Name); err != nil {
			return fmt.Errorf("%sservice name %q: %w", what, s.Name, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("%sservice %q listed twice", what, s.Name)
		}
		seen[s.Name] = true
		if len(s.Methods) > MaxMethods {
			return fmt.Errorf("%sservice %s: %d methods, at most %d allowed", what, s.Name, len(s.Methods), MaxMethods)
		}
		mseen := make(map[string]bool, len(s.Methods))
		for _, m := range s.Methods {
			if err := checkName(m.Name); err != nil {
				return fmt.Errorf("method name %q of %s: %w", m.Name, s.Name, err)
			}
			if mseen[m.Name] {
				return fmt.Errorf("method %s.%s listed twice", s.Name, m.Name)
			}
			mseen[m.Name] = true
			if want := plexus.MethodID(s.Name, m.Name); m.ID != want {
				return fmt.Errorf("method %s.%s has ID %#x, but its name gives %#x", s.Name, m.Name, m.ID, want)
			}
		}
	}
	return nil
}

// checkName allows 1..MaxNameLen bytes of printable ASCII without spaces,
// which covers Go and protobuf-style qualified names.
func checkName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return fmt.Errorf("length %d outside 1..%d", len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("byte %#x at %d is not printable ASCII", c, i)
		}
	}
	return nil
}
