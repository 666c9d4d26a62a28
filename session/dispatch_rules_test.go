package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/wire"
)

// specAllows is SPEC.md's rule ("Session frames") for the channel a frame
// kind may use, written out independently of kindRules: link frames on
// channel 0, call frames on a real channel, CREDIT and RESET on either,
// and nothing for a kind the specification does not define.
func specAllows(k wire.Kind, id uint64) bool {
	switch k {
	case wire.KindNotify, wire.KindPing, wire.KindPong, wire.KindGoAway:
		return id == 0
	case wire.KindOpen, wire.KindData, wire.KindStatus:
		return id != 0
	case wire.KindCredit, wire.KindReset:
		return true
	}
	return false
}

// TestKindRules checks dispatch's table against the specification for
// every kind byte: the channels it admits, which kinds are charged to the
// link's window (and which count towards the next grant at once), and
// which go to a channel's state machine rather than a handler.
func TestKindRules(t *testing.T) {
	for k := range 256 {
		kind := wire.Kind(k)
		r := kindRules[k]
		for _, id := range []uint64{0, 1, 2, 1 << 40} {
			require.Equal(t, specAllows(kind, id), r.chans&chanClass(id) != 0, "kind %v on channel %d", kind, id)
		}
		require.Equal(t, kind.Valid() && kind.CarriesMessage(), r.charge, "kind %v charged", kind)
		toChannel := kind == wire.KindData || kind == wire.KindStatus
		require.Equal(t, toChannel, r.consume, "kind %v counted at dispatch", kind)
		require.Equal(t, kind.Valid() && !toChannel, r.handle != nil, "kind %v has a handler", kind)
	}
}
