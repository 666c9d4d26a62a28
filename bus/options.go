package bus

import (
	"fmt"

	"github.com/plexus-ipc/plexus"
)

// Overflow is what a subscription does with a message that arrives when
// it already holds Buffer messages.
type Overflow uint8

const (
	// Block: the publisher waits, within its context, for room in this
	// subscription. The zero value: nothing is lost unless the publisher
	// gives up.
	Block Overflow = iota
	// DropOldest: the oldest buffered message is dropped to make room.
	DropOldest
	// DropNewest: the arriving message is dropped.
	DropNewest
	// End: the subscription ends with RESOURCE_EXHAUSTED; the arriving
	// message and the ones it held are dropped (a queue member's go to
	// the rest of its group).
	End
)

var overflowNames = [...]string{"Block", "DropOldest", "DropNewest", "End"}

func (o Overflow) String() string {
	if int(o) < len(overflowNames) {
		return overflowNames[o]
	}
	return fmt.Sprintf("Overflow(%d)", uint8(o))
}

// QueuePolicy is how a queue group picks the member a message goes to.
type QueuePolicy uint8

const (
	// DefaultPolicy is the zero value: the Bus's Config.QueuePolicy.
	DefaultPolicy QueuePolicy = iota
	// RoundRobin: members in turn, by subscription order.
	RoundRobin
	// LeastLoaded: the member holding the fewest messages (buffered and
	// in flight); ties go round-robin.
	LeastLoaded
)

var policyNames = [...]string{"DefaultPolicy", "RoundRobin", "LeastLoaded"}

func (p QueuePolicy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("QueuePolicy(%d)", uint8(p))
}

// DefaultBuffer is a subscription's buffer when neither SubOptions nor
// Config sets one.
const DefaultBuffer = 256

// DefaultHistorySubjects is the most subjects whose history a Bus keeps
// when Config does not say.
const DefaultHistorySubjects = 4096

// AllHistory asks for every retained message of each matching subject.
const AllHistory = int(^uint(0) >> 1)

// Config configures a Bus. The zero value is usable: no history,
// round-robin groups, buffers of DefaultBuffer.
type Config struct {
	// Buffer is the default of SubOptions.Buffer.
	Buffer int
	// QueuePolicy picks members in groups whose first member did not
	// choose; RoundRobin if zero.
	QueuePolicy QueuePolicy
	// History is how many of the last messages of each concrete subject
	// are kept for late subscribers, unless a HistoryRules entry matches.
	History int
	// HistoryRules override History for the subjects matching their
	// Pattern; the first matching rule wins.
	HistoryRules []HistoryRule
	// HistorySubjects bounds how many subjects keep history; beyond it
	// the subject published to least recently loses its history.
	// DefaultHistorySubjects if zero.
	HistorySubjects int
}

// HistoryRule keeps the last Keep messages of each subject matching
// Pattern (0: none).
type HistoryRule struct {
	Pattern string
	Keep    int
}

// SubOptions configure one subscription.
type SubOptions struct {
	// Queue, if not empty, makes the subscription a member of that queue
	// group: each message goes to one member only.
	Queue string
	// QueuePolicy is the group's policy, which its first member sets
	// (DefaultPolicy: the Bus's); a later member asking another one is
	// refused with FAILED_PRECONDITION.
	QueuePolicy QueuePolicy
	// Buffer bounds the messages the subscription holds: buffered and,
	// for a queue member, in flight (taken by Next, not yet Done).
	// Config.Buffer if zero.
	Buffer int
	// Overflow is what happens when a message arrives and Buffer is
	// reached.
	Overflow Overflow
	// History asks for the last History retained messages of each
	// subject the pattern matches (AllHistory: all of them) before the
	// live ones. Not for queue members.
	History int
	// Type, if not 0, is the type of message the subscriber expects (a
	// typed topic's, see types.go): it joins only if the subjects its
	// pattern matches carry that type, and is ended with
	// VERSION_MISMATCH if one turns out to carry another.
	Type uint64
}

func (c Config) normalize() (Config, error) {
	if c.Buffer < 0 || c.History < 0 || c.HistorySubjects < 0 {
		return c, plexus.Errorf(plexus.InvalidArgument, "bus: negative Buffer, History or HistorySubjects in Config")
	}
	if c.QueuePolicy > LeastLoaded {
		return c, plexus.Errorf(plexus.InvalidArgument, "bus: unknown %v", c.QueuePolicy)
	}
	for _, r := range c.HistoryRules {
		if err := ValidatePattern(r.Pattern); err != nil {
			return c, err
		}
		if r.Keep < 0 {
			return c, plexus.Errorf(plexus.InvalidArgument, "bus: negative Keep for history pattern %q", r.Pattern)
		}
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.QueuePolicy == DefaultPolicy {
		c.QueuePolicy = RoundRobin
	}
	if c.HistorySubjects == 0 {
		c.HistorySubjects = DefaultHistorySubjects
	}
	c.HistoryRules = append([]HistoryRule(nil), c.HistoryRules...)
	return c, nil
}

func (o SubOptions) validate() error {
	switch {
	case o.Buffer < 0 || o.History < 0:
		return plexus.Errorf(plexus.InvalidArgument, "bus: negative Buffer or History in SubOptions")
	case o.Overflow > End:
		return plexus.Errorf(plexus.InvalidArgument, "bus: unknown %v", o.Overflow)
	case o.QueuePolicy > LeastLoaded:
		return plexus.Errorf(plexus.InvalidArgument, "bus: unknown %v", o.QueuePolicy)
	case o.Queue == "" && o.QueuePolicy != DefaultPolicy:
		return plexus.Errorf(plexus.InvalidArgument, "bus: QueuePolicy without a Queue")
	case o.Queue != "" && o.History > 0:
		// Every member would replay the same history: the group would
		// see each retained message once per member.
		return plexus.Errorf(plexus.InvalidArgument, "bus: History is not for queue members")
	}
	for i := 0; i < len(o.Queue); i++ {
		if c := o.Queue[i]; c <= ' ' || c == 0x7f {
			return plexus.Errorf(plexus.InvalidArgument, "bus: queue name %q has a space or control byte", o.Queue)
		}
	}
	return nil
}
