package wire

import "strconv"

// Kind is a session frame's kind (SPEC.md "Session frames").
type Kind uint8

const (
	KindOpen   Kind = 1 // opens a channel: a call or a stream
	KindData   Kind = 2 // a message on an open channel
	KindStatus Kind = 3 // the server's final status; closes the channel
	KindReset  Kind = 4 // abandons a channel, with a code in Aux
	KindCredit Kind = 5 // grants flow-control credit (channel 0: the link)
	KindNotify Kind = 6 // a one-way message, no channel
	KindPing   Kind = 7 // liveness probe, nonce in Aux
	KindPong   Kind = 8 // answer to a ping, same nonce
	KindGoAway Kind = 9 // no new calls; Aux holds the last channel served
	// KindMax is the highest kind defined; anything above is a violation.
	KindMax = KindGoAway
)

var kindNames = [...]string{
	KindOpen: "OPEN", KindData: "DATA", KindStatus: "STATUS", KindReset: "RESET",
	KindCredit: "CREDIT", KindNotify: "NOTIFY", KindPing: "PING", KindPong: "PONG",
	KindGoAway: "GOAWAY",
}

func (k Kind) String() string {
	if k >= 1 && k <= KindMax {
		return kindNames[k]
	}
	return "KIND(" + strconv.Itoa(int(k)) + ")"
}

// Valid reports whether k is a defined kind.
func (k Kind) Valid() bool { return k >= 1 && k <= KindMax }

// CarriesMessage reports whether frames of kind k carry an application
// payload, and so are charged to the flow-control windows.
func (k Kind) CarriesMessage() bool {
	return k == KindOpen || k == KindData || k == KindStatus || k == KindNotify
}

// FrameCost is what a frame takes from flow-control windows. The fixed
// part makes empty messages cost something, so a peer cannot flood a
// receiver with frames that are free under the window.
func FrameCost(payloadLen int) int64 { return int64(payloadLen) + DescSize }
