package retry

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/plexus-ipc/plexus"
)

// Policy says how often and how fast a call is tried again. Its zero
// value is the default policy: three attempts, 50 ms growing twofold to
// at most 5 s with 20% jitter, and, for idempotent methods, retries after
// UNAVAILABLE and PEER_DIED.
type Policy struct {
	// MaxAttempts is the number of attempts in all, the first included:
	// 0 means 3, 1 means no retries at all (calls go straight through).
	MaxAttempts int
	// InitialBackoff is the wait before the first retry; 0 means 50 ms.
	InitialBackoff time.Duration
	// MaxBackoff caps every wait, jitter included; 0 means 5 s.
	MaxBackoff time.Duration
	// Multiplier grows the wait from one retry to the next; 0 means 2,
	// 1 keeps it constant.
	Multiplier float64
	// Jitter spreads each wait uniformly over ±Jitter of its nominal
	// value (backoff.ExponentialBackOff's RandomizationFactor), so that
	// the callers a peer's death failed at once do not all come back at
	// once. At most 1; 0 means 0.2; NoJitter (any negative value) none.
	Jitter float64
	// RetryableCodes are the status codes after which a call that may
	// have reached the peer is tried again, for methods described
	// idempotent (plexus.MethodDesc.Idempotent) only. nil means
	// UNAVAILABLE and PEER_DIED; an empty, non-nil slice none. OK,
	// CANCELED, DEADLINE_EXCEEDED and APPLICATION_ERROR are refused: the
	// first two end the caller's own context, which no retry outlives,
	// and an application error is the handler's answer, not a failure
	// to get one.
	RetryableCodes []plexus.Code
}

// NoJitter as Policy.Jitter makes every wait its nominal value.
const NoJitter = -1.0

// Defaults of Policy's zero fields.
const (
	DefaultMaxAttempts    = 3
	DefaultInitialBackoff = 50 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultMultiplier     = 2.0
	DefaultJitter         = 0.2
)

// DefaultRetryableCodes are RetryableCodes when nil. PEER_DIED: the
// plugin died while the call ran, so it may have run, which an
// idempotent method tolerates; UNAVAILABLE: the peer or the link could
// not serve it now. DEADLINE_EXCEEDED is not among them: it means the
// call's own deadline has passed.
func DefaultRetryableCodes() []plexus.Code {
	return []plexus.Code{plexus.Unavailable, plexus.PeerDied}
}

// codeSet is a set of status codes. Every defined code is below 128
// (plexus numbers link codes from 64), so two words hold the set and a
// lookup on the failure path costs no map access.
type codeSet [2]uint64

func (s *codeSet) add(c plexus.Code) { s[c/64] |= 1 << (c % 64) }

func (s codeSet) has(c plexus.Code) bool { return c < 128 && s[c/64]&(1<<(c%64)) != 0 }

func (s codeSet) empty() bool { return s == codeSet{} }

// policy is a Policy with its defaults applied and checked, as a Conn
// uses it for one method.
type policy struct {
	maxAttempts int
	initial     time.Duration
	max         time.Duration
	multiplier  float64
	jitter      float64 // 0: none
	codes       codeSet
	// idempotent: the method may run twice (Config.Services), so it is
	// retried after a failure that may have come after it ran.
	idempotent bool
}

// mayRerun reports whether a call of this method may be tried again
// after an attempt that may have reached the peer: only then does it
// need an idempotency key and a guarded response.
func (p *policy) mayRerun() bool {
	return p.idempotent && p.maxAttempts > 1 && !p.codes.empty()
}

// compile applies the defaults to p and checks it; field names the
// policy in errors ("Default", "Methods[0x...]").
func (p Policy) compile(field string) (*policy, error) {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("retry: Config.%s.%s %s", field, name, fmt.Sprintf(format, args...))
	}
	out := &policy{
		maxAttempts: p.MaxAttempts, initial: p.InitialBackoff, max: p.MaxBackoff,
		multiplier: p.Multiplier, jitter: p.Jitter,
	}
	switch {
	case p.MaxAttempts < 0:
		return nil, bad("MaxAttempts", "%d: must be at least 1 (0 for the default, %d)", p.MaxAttempts, DefaultMaxAttempts)
	case p.MaxAttempts == 0:
		out.maxAttempts = DefaultMaxAttempts
	}
	switch {
	case p.InitialBackoff < 0:
		return nil, bad("InitialBackoff", "%v: must not be negative", p.InitialBackoff)
	case p.InitialBackoff == 0:
		out.initial = DefaultInitialBackoff
	}
	switch {
	case p.MaxBackoff < 0:
		return nil, bad("MaxBackoff", "%v: must not be negative", p.MaxBackoff)
	case p.MaxBackoff == 0:
		out.max = DefaultMaxBackoff
	}
	if out.initial > out.max {
		return nil, bad("InitialBackoff", "%v exceeds MaxBackoff %v", out.initial, out.max)
	}
	switch m := p.Multiplier; {
	case math.IsNaN(m) || math.IsInf(m, 0) || m < 0 || (m > 0 && m < 1):
		return nil, bad("Multiplier", "%v: must be at least 1 (0 for the default, %v)", m, DefaultMultiplier)
	case m == 0:
		out.multiplier = DefaultMultiplier
	}
	switch j := p.Jitter; {
	case math.IsNaN(j) || j > 1:
		return nil, bad("Jitter", "%v: must be at most 1 (0 for the default, %v; NoJitter for none)", j, DefaultJitter)
	case j < 0:
		out.jitter = 0
	case j == 0:
		out.jitter = DefaultJitter
	}
	codes := p.RetryableCodes
	if codes == nil {
		codes = DefaultRetryableCodes()
	}
	for _, c := range codes {
		if why := refusedCode(c); why != "" {
			return nil, bad("RetryableCodes", "holds %v: %s", c, why)
		}
		out.codes.add(c)
	}
	return out, nil
}

// refusedCode says why c cannot be a retryable code, or "".
func refusedCode(c plexus.Code) string {
	switch c {
	case plexus.OK:
		return "OK is success"
	case plexus.Canceled, plexus.DeadlineExceeded:
		return "the caller's context has ended, and no retry outlives it"
	case plexus.ApplicationError:
		return "an application error is the handler's answer and is never retried"
	}
	if c >= 128 || strings.HasPrefix(c.String(), "CODE(") {
		return "not a status code plexus defines"
	}
	return ""
}
