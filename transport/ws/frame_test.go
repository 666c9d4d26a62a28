package ws

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/internal/bufpool"
	"github.com/plexus-ipc/plexus/wire"
)

// message builds a binary message: a descriptor with payload length
// length, changed by edit, followed by body.
func message(length int, edit func(*wire.Desc), body []byte) []byte {
	var d wire.Desc
	d.SetChannel(3)
	d.SetKind(2)
	d.SetFlags(wire.FlagMsg)
	d.SetLength(uint32(length))
	if edit != nil {
		edit(&d)
	}
	return append(d[:], body...)
}

// TestDecodeFrame checks each rule of the package comment: the close code
// and what the reason says.
func TestDecodeFrame(t *testing.T) {
	const max = 1000
	full := bytes.Repeat([]byte{0xab}, max)
	cases := []struct {
		name   string
		text   bool
		msg    []byte
		code   websocket.StatusCode
		reason string
	}{
		{"valid empty", false, message(0, nil, nil), 0, ""},
		{"valid", false, message(5, nil, []byte("hello")), 0, ""},
		{"valid at limit", false, message(max, nil, full), 0, ""},
		{"text", true, message(5, nil, []byte("hello")), websocket.StatusUnsupportedData, "text message"},
		{"empty message", false, nil, websocket.StatusPolicyViolation, "message of 0 bytes is shorter than the 64-byte descriptor"},
		{"short descriptor", false, make([]byte, 63), websocket.StatusPolicyViolation, "message of 63 bytes is shorter"},
		{"length exceeds message", false, message(10, nil, []byte("12345")), websocket.StatusPolicyViolation, "ends after 5 payload bytes; its descriptor declares 10"},
		{"descriptor only, length 1", false, message(1, nil, nil), websocket.StatusPolicyViolation, "ends after 0 payload bytes"},
		{"message longer than length", false, message(3, nil, []byte("12345")), websocket.StatusPolicyViolation, "message of 69 bytes; its descriptor declares a 3-byte payload"},
		{"message one above limit", false, message(max, nil, append(full, 1)), websocket.StatusMessageTooBig, "too big: over 1064 bytes"},
		{"message far above limit", false, message(10, nil, make([]byte, 5*max)), websocket.StatusMessageTooBig, "too big"},
		{"length above limit", false, message(max+1, nil, nil), websocket.StatusMessageTooBig, "frame length 1001 exceeds the 1000-byte payload limit"},
		{"reserved low", false, message(0, func(d *wire.Desc) { d[10] = 1 }, nil), websocket.StatusPolicyViolation, "reserved field is 0x0001"},
		{"reserved high", false, message(0, func(d *wire.Desc) { d[11] = 0x80 }, nil), websocket.StatusPolicyViolation, "reserved field is 0x8000"},
		{"INLINE", false, message(0, func(d *wire.Desc) { d.SetFlags(wire.FlagInline) }, nil), websocket.StatusPolicyViolation, "flags 0x01 set INLINE"},
		{"SLOT", false, message(0, func(d *wire.Desc) { d.SetFlags(wire.FlagSlot | wire.FlagMsg) }, nil), websocket.StatusPolicyViolation, "flags 0x42"},
		{"BLOB", false, message(0, func(d *wire.Desc) { d.SetFlags(wire.FlagBlob) }, nil), websocket.StatusPolicyViolation, "flags 0x04"},
		{"bit 3", false, message(0, func(d *wire.Desc) { d.SetFlags(1 << 3) }, nil), websocket.StatusPolicyViolation, "flags 0x08"},
		{"slot field", false, message(0, func(d *wire.Desc) { d[36] = 1 }, nil), websocket.StatusPolicyViolation, "bytes 36..63"},
		{"inline field", false, message(0, func(d *wire.Desc) { d[63] = 1 }, nil), websocket.StatusPolicyViolation, "bytes 36..63"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			typ := websocket.MessageBinary
			if c.text {
				typ = websocket.MessageText
			}
			d := decoder{max: max}
			var f transport.Frame
			v, err := d.decode(typ, bytes.NewReader(c.msg), &f)
			if err != nil {
				t.Fatal(err)
			}
			if c.code == 0 {
				if v != nil {
					t.Fatalf("refused: %v %s", v.code, v.reason)
				}
				if !bytes.Equal(f.Payload, c.msg[wire.DescSize:]) || f.Desc != wire.Desc(c.msg[:wire.DescSize]) {
					t.Fatal("frame differs from the message")
				}
				bufpool.Put(f.Payload)
				return
			}
			if v == nil {
				t.Fatalf("accepted; want %v", c.code)
			}
			checkViolation(t, v)
			if v.code != c.code || !strings.Contains(v.reason, c.reason) {
				t.Fatalf("got %v %q; want %v with %q", v.code, v.reason, c.code, c.reason)
			}
			if !strings.Contains(v.status().Error(), c.reason) {
				t.Fatalf("status %q does not say %q", v.status(), c.reason)
			}
		})
	}
}

// TestReasonsFit formats every reason with the longest values it can be
// given: each must fit a close frame whole, or the peer would read a
// truncated one.
func TestReasonsFit(t *testing.T) {
	big := uint64(math.MaxUint32) + wire.DescSize + 1 // sizes go one past descriptor + limit
	for _, r := range []string{
		reasonText,
		fmt.Sprintf(reasonType, math.MaxInt),
		fmt.Sprintf(reasonShortDesc, 63),
		fmt.Sprintf(reasonShortPayload, uint64(math.MaxUint32), uint64(math.MaxUint32)),
		fmt.Sprintf(reasonTooBig, big, uint64(math.MaxUint32)),
		fmt.Sprintf(reasonLongPayload, big, uint64(math.MaxUint32)),
		fmt.Sprintf(reasonReserved, uint16(math.MaxUint16)),
		fmt.Sprintf(reasonFlags, uint8(math.MaxUint8)),
		reasonTail,
		fmt.Sprintf(reasonLength, uint64(math.MaxUint32), uint64(math.MaxUint32)),
	} {
		if len(r) > maxReason {
			t.Errorf("%d bytes, more than %d: %q", len(r), maxReason, r)
		}
	}
}
