package bus

import (
	"fmt"

	"github.com/plexus-ipc/plexus"
)

// Typed messages. A typed topic (code generation: //plexus:topic, see
// genrt.Topic) gives its messages a type, the 64-bit signature hash of
// the message's Go type and of the topic's pattern: Message.Type, and
// SubOptions.Type for a subscriber that decodes them as that type. The
// bus checks types between typed parties, so that a publisher and a
// subscriber built from different versions of a message type find out at
// once, with VERSION_MISMATCH, instead of decoding garbage:
//
//   - The first typed message published on a subject gives the subject
//     its type; a typed message of another type on it is refused.
//   - A typed subscriber joins only if every subject its pattern matches
//     that has a type has its type (checked when it joins).
//   - A typed subscriber that joined before a subject it matches had a
//     type, and then meets a message of another type, is ended with
//     VERSION_MISMATCH rather than handed the message.
//
// Untyped messages (Type 0) and untyped subscribers are never checked:
// raw bytes may be carried by anyone (a bridge, a logger). The record is
// bounded like history's subjects (Config.HistorySubjects): beyond it new
// subjects are not recorded, and only the last rule protects them.

// subjectTypes records the type of each typed subject. Guarded by Bus.mu.
type subjectTypes struct {
	m   map[string]uint64
	max int
}

// admit checks a typed message of type typ on subject, and records the
// subject's type if it had none.
func (t *subjectTypes) admit(subject string, typ uint64) error {
	if have, ok := t.m[subject]; ok {
		if have != typ {
			return plexus.Errorf(plexus.VersionMismatch, "bus: subject %q carries messages of type %#x, not %#x", subject, have, typ)
		}
		return nil
	}
	if t.m == nil {
		t.m = make(map[string]uint64)
	}
	if len(t.m) < t.max {
		t.m[subject] = typ
	}
	return nil
}

// conflict finds a typed subject that pattern matches whose type is not
// typ, for a typed subscriber joining.
func (t *subjectTypes) conflict(pattern string, typ uint64) error {
	for subject, have := range t.m {
		if have != typ && Match(pattern, subject) {
			return plexus.Errorf(plexus.VersionMismatch, "bus: subscription to %q of type %#x: subject %q carries messages of type %#x", pattern, typ, subject, have)
		}
	}
	return nil
}

// dropMistyped ends the typed subscriptions among matched that expect
// another type than e's, and reports whether it ended any (Bus.mu held).
// It does not modify matched, which may be the route cache's.
func (b *Bus) dropMistyped(matched []*Subscription, e *publication, rel *releases) bool {
	ended := false
	for _, s := range matched {
		if s.typ == 0 || s.typ == e.typ {
			continue
		}
		b.endLocked(s, plexus.Errorf(plexus.VersionMismatch, "bus: subscription to %q expects messages of type %#x; subject %q carries %s",
			s.pattern, s.typ, e.subject, fmt.Sprintf("%#x", e.typ)), rel)
		ended = true
	}
	return ended
}
