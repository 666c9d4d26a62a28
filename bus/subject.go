package bus

import (
	"fmt"
	"strings"

	"github.com/plexus-ipc/plexus"
)

// Limits of a subject or pattern. They bound the work of matching and
// the size of a subject on the wire once the bus crosses processes.
const (
	// MaxSubjectLen is the longest subject or pattern, in bytes.
	MaxSubjectLen = 255
	// MaxTokens is the most tokens a subject or pattern may have.
	MaxTokens = 32
)

// Wildcards of a pattern: each is a whole token.
const (
	// AnyToken ("*") matches exactly one token.
	AnyToken = "*"
	// AnyRest (">") matches one or more trailing tokens; it is the last
	// token of a pattern.
	AnyRest = ">"
)

// ValidateSubject reports whether s is a subject a message can be
// published to: concrete, without wildcards.
func ValidateSubject(s string) error { return check(s, false) }

// ValidatePattern reports whether p is a pattern a subscription can use:
// a subject whose tokens may also be the wildcards "*" and ">".
func ValidatePattern(p string) error { return check(p, true) }

// Match reports whether the concrete subject matches pattern. Either
// being invalid is no match.
func Match(pattern, subject string) bool {
	p, err := parse(pattern, true)
	if err != nil {
		return false
	}
	s, err := parse(subject, false)
	if err != nil {
		return false
	}
	return matchTokens(p, s)
}

// matchTokens matches a valid pattern against a valid concrete subject,
// both already split.
func matchTokens(pattern, subject []string) bool {
	for i, t := range pattern {
		if t == AnyRest {
			return len(subject) > i
		}
		if i >= len(subject) || (t != AnyToken && t != subject[i]) {
			return false
		}
	}
	return len(pattern) == len(subject)
}

// parse validates s and splits it into tokens; pattern allows wildcards.
func parse(s string, pattern bool) ([]string, error) {
	if err := check(s, pattern); err != nil {
		return nil, err
	}
	return strings.Split(s, "."), nil
}

// check validates s as parse does, without allocating: it runs on every
// message a link decodes.
func check(s string, pattern bool) error {
	what := "subject"
	if pattern {
		what = "pattern"
	}
	switch {
	case s == "":
		return plexus.Errorf(plexus.InvalidArgument, "bus: empty %s", what)
	case len(s) > MaxSubjectLen:
		return plexus.Errorf(plexus.InvalidArgument, "bus: %s of %d bytes, longer than %d", what, len(s), MaxSubjectLen)
	}
	// Counting first keeps a hostile subject of 255 dots from costing a
	// check of 256 tokens only to be refused.
	if n := strings.Count(s, ".") + 1; n > MaxTokens {
		return plexus.Errorf(plexus.InvalidArgument, "bus: %s %q has %d tokens, more than %d", what, s, n, MaxTokens)
	}
	for i, rest := 0, s; ; i++ {
		t, after, more := strings.Cut(rest, ".")
		if why := checkToken(t, !more, pattern); why != "" {
			return plexus.Errorf(plexus.InvalidArgument, "bus: %s %q, token %d: %s", what, s, i+1, why)
		}
		if !more {
			return nil
		}
		rest = after
	}
}

// checkToken says what is wrong with one token, or "".
func checkToken(t string, last, pattern bool) string {
	switch {
	case t == "":
		return "empty token"
	case t == AnyToken || t == AnyRest:
		if !pattern {
			return "wildcard in a publish subject"
		}
		if t == AnyRest && !last {
			return "'>' must be the last token"
		}
		return ""
	}
	for j := 0; j < len(t); j++ {
		switch c := t[j]; {
		case c <= ' ' || c == 0x7f:
			return fmt.Sprintf("space or control byte 0x%02x", c)
		case c == '*' || c == '>':
			// NATS takes "a*" for a literal; refusing it instead keeps a
			// pattern that looks like a wildcard from silently being one
			// that is not.
			return "'*' and '>' must be whole tokens"
		}
	}
	return ""
}
