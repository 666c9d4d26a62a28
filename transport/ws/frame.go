package ws

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/coder/websocket"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/internal/bufpool"
	"github.com/plexus-ipc/plexus/wire"
)

// A frame is one binary WebSocket message: the 64-byte descriptor and then
// exactly Length payload bytes. The message boundary is a second length,
// so the receiver checks that the two agree: a descriptor whose length
// disagrees with its message is as malformed as one with reserved bits,
// and letting either win would let a peer smuggle bytes past the other.

// maxReason is the longest close reason a close frame carries (125 bytes
// of control payload less the 2-byte status code).
const maxReason = 123

// violation is a malformed message: the close code and reason this side
// sends before it closes the connection. The reason is ASCII and at most
// maxReason bytes (FuzzDecodeFrame checks both), because the close frame
// cannot carry more and a browser shows it to the page as it is.
type violation struct {
	code   websocket.StatusCode
	reason string
}

// The reasons' formats. Each fits maxReason bytes with the longest numbers
// it can be given (TestReasonsFit).
const (
	reasonText         = "text message: plexus frames are binary messages"
	reasonType         = "message of type %d: plexus frames are binary messages"
	reasonShortDesc    = "message of %d bytes is shorter than the 64-byte descriptor"
	reasonShortPayload = "message ends after %d payload bytes; its descriptor declares %d"
	reasonTooBig       = "message too big: over %d bytes (64-byte descriptor + %d-byte payload limit)"
	reasonLongPayload  = "message of %d bytes; its descriptor declares a %d-byte payload"
	reasonReserved     = "descriptor reserved field is %#04x, want 0"
	reasonFlags        = "descriptor flags %#02x set INLINE, SLOT or reserved bits"
	reasonTail         = "descriptor bytes 36..63 are not zero"
	reasonLength       = "frame length %d exceeds the %d-byte payload limit"
)

func violate(code websocket.StatusCode, format string, args ...any) *violation {
	reason := fmt.Sprintf(format, args...)
	if len(reason) > maxReason {
		reason = reason[:maxReason] // the library would send no reason at all
	}
	return &violation{code: code, reason: reason}
}

// status is what Recv reports for v.
func (v *violation) status() *plexus.Status {
	return plexus.Errorf(plexus.ProtocolViolation, "ws: %s (closed with %v)", v.reason, v.code)
}

// decoder turns received messages into frames. It belongs to the one
// goroutine in Recv; its buffers are fields so that they do not escape to
// the heap once per message.
type decoder struct {
	max   int
	hdr   [wire.DescSize]byte
	probe [1]byte
}

// decode reads one message of type typ from r into f. The descriptor is
// checked before anything is allocated for the payload, and at most one
// descriptor plus max+1 bytes are read however long the message is, so a
// peer can make this side neither reserve nor read more than a frame of
// the largest size. A malformed message returns a violation; an error
// from r (the connection, not the message, failed) returns err. On either,
// f.Payload is nil. On success f.Payload is a pooled buffer (nil for an
// empty payload) that the caller gives back with bufpool.Put.
func (d *decoder) decode(typ websocket.MessageType, r io.Reader, f *transport.Frame) (*violation, error) {
	f.Payload = nil
	switch typ {
	case websocket.MessageBinary:
	case websocket.MessageText:
		return violate(websocket.StatusUnsupportedData, reasonText), nil
	default:
		return violate(websocket.StatusUnsupportedData, reasonType, int(typ)), nil
	}
	// The library reports the end of a message as a bare io.EOF and a
	// failed connection as a wrapped error, so only these exact values
	// mean that the message itself was short.
	n, err := io.ReadFull(r, d.hdr[:])
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return violate(websocket.StatusPolicyViolation, reasonShortDesc, n), nil
	}
	if err != nil {
		return nil, err
	}
	f.Desc = wire.Desc(d.hdr)
	if v := checkDesc(&f.Desc, d.max); v != nil {
		return v, nil
	}
	length := int(f.Desc.Length())
	var buf []byte
	if length > 0 {
		buf = bufpool.Get(length)
		got, err := io.ReadFull(r, buf)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			bufpool.Put(buf)
			return violate(websocket.StatusPolicyViolation, reasonShortPayload, got, length), nil
		}
		if err != nil {
			bufpool.Put(buf)
			return nil, err
		}
	}
	// The message must end here. Reading to its end is also what lets the
	// library go on to the next one.
	_, err = io.ReadFull(r, d.probe[:])
	if err == io.EOF {
		f.Payload = buf
		return nil, nil
	}
	bufpool.Put(buf)
	if err != nil {
		return nil, err
	}
	return d.tooLong(r, length)
}

// tooLong reports a message that goes on after the payload its descriptor
// declares. Whether it is also above the size limit decides the close
// code, so it reads on, at most to one byte past the limit: a cost the peer
// could impose with a valid frame anyway.
func (d *decoder) tooLong(r io.Reader, length int) (*violation, error) {
	room := int64(d.max - length) // bytes the limit allows after the probe, plus one
	extra, err := io.CopyN(io.Discard, r, room)
	switch {
	case err == nil:
		return violate(websocket.StatusMessageTooBig, reasonTooBig, wire.DescSize+d.max, d.max), nil
	case err != io.EOF:
		return nil, err
	}
	size := int64(wire.DescSize+length) + 1 + extra
	return violate(websocket.StatusPolicyViolation, reasonLongPayload, size, length), nil
}

// checkDesc applies SPEC.md "Frames on stream transports" to a descriptor
// from the peer: the same checks, in the same order, as transport/stream,
// since the descriptor's payload fields mean the same on both. A length
// above max is refused as too big; the rest as a policy violation.
func checkDesc(d *wire.Desc, max int) *violation {
	if r := d.Reserved(); r != 0 {
		return violate(websocket.StatusPolicyViolation, reasonReserved, r)
	}
	if fl := d.Flags(); fl&wire.TransportFlags != 0 {
		return violate(websocket.StatusPolicyViolation, reasonFlags, fl)
	}
	tail := uint64(binary.LittleEndian.Uint32(d[wire.InlineOffset:])) |
		binary.LittleEndian.Uint64(d[40:]) |
		binary.LittleEndian.Uint64(d[48:]) |
		binary.LittleEndian.Uint64(d[56:])
	if tail != 0 {
		return violate(websocket.StatusPolicyViolation, reasonTail)
	}
	if n := d.Length(); uint64(n) > uint64(max) {
		return violate(websocket.StatusMessageTooBig, reasonLength, n, max)
	}
	return nil
}
