package hostile

import (
	"time"

	"github.com/plexus-ipc/plexus"
)

// How an attack must end the attacked link.
type endKind int

const (
	endViolation endKind = iota // the link ends, with one of the attack's codes (default PROTOCOL_VIOLATION)
	endSurvive                  // the link stays up: calls on it succeed afterwards
	endEither                   // either; an end must have one of the codes
)

func (e endKind) String() string {
	return [...]string{"end", "survive", "end or survive"}[e]
}

// callPlan is a batch of calls the host makes to the hostile plugin while
// the attack is in place.
type callPlan struct {
	N           int           // calls in all
	Concurrency int           // at once
	Size        int           // request bytes (above 28 they need a slot)
	Deadline    time.Duration // each call's
}

// hostPlan is what the host role does around an attack.
type hostPlan struct {
	SegWait time.Duration // host.Config.Segment.Wait; 0: the default (5 s)
	Calls   *callPlan     // once the plugin says "armed"
	CPU     bool          // measure the host's CPU for a second once armed
	Resume  bool          // after the calls, SIGUSR1 the plugin: it consumes again
	Bound   time.Duration // wait at most this for the link's end (or the plugin's "done"); default 10 s
}

// pluginAttack is one attack of a hostile plugin on its host.
type pluginAttackDef struct {
	Name   string
	Plugin func(p *peer) error // runs in the hostile plugin after its warm-up
	Host   hostPlan
	End    endKind
	Codes  []plexus.Code // acceptable end codes; default PROTOCOL_VIOLATION
	AnyEnd bool          // any end status will do (not OK)
	MsgAny []string      // the end status's message must contain one of these (when it ended)
	// Check adds assertions on the report; each returned string is a failure.
	Check func(r *hostReport) []string
}

func (a *pluginAttackDef) codes() []plexus.Code {
	if len(a.Codes) == 0 {
		return []plexus.Code{plexus.ProtocolViolation}
	}
	return a.Codes
}

func (a *pluginAttackDef) bound() time.Duration {
	if a.Host.Bound > 0 {
		return a.Host.Bound
	}
	return 10 * time.Second
}

// pluginAttacks lists every attack of the hostile plugin, in the order the
// suite runs them.
func pluginAttacks() []*pluginAttackDef {
	var all []*pluginAttackDef
	all = append(all, pointAttacks()...)
	all = append(all, segmentAttacks()...)
	all = append(all, ctlAttacks()...)
	all = append(all, protocolAttacks()...)
	return all
}

func pluginAttack(name string) *pluginAttackDef {
	for _, a := range pluginAttacks() {
		if a.Name == name {
			return a
		}
	}
	return nil
}
