package codec

import (
	"errors"
	"fmt"
)

// Sentinels that every decoding error wraps, so callers can tell input that
// is not a valid encoding from input that is valid but too large.
var (
	// ErrMalformed: the input is not a valid encoding of the expected value
	// (wrong type, truncated, a length that runs past the end, an integer
	// out of range of the target type, trailing bytes).
	ErrMalformed = errors.New("codec: malformed input")
	// ErrLimit: the input is well formed but exceeds a configured Limit.
	ErrLimit = errors.New("codec: limit exceeded")
)

// Error is a decoding error: where it happened and why. It unwraps to
// ErrMalformed or ErrLimit, and to the msgp error that caused it if any.
type Error struct {
	// Offset is the position in the decoder's input of the value that
	// failed.
	Offset int
	// Kind is ErrMalformed or ErrLimit.
	Kind error
	// Msg describes the failure without the offset.
	Msg string
	// Cause is the underlying msgp error, if any.
	Cause error
}

func (e *Error) Error() string {
	return fmt.Sprintf("codec: %s at offset %d", e.Msg, e.Offset)
}

func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// errAt is outlined so that the decoding fast paths stay small.
//
//go:noinline
func errAt(off int, kind error, cause error, format string, args ...any) error {
	return &Error{Offset: off, Kind: kind, Msg: fmt.Sprintf(format, args...), Cause: cause}
}
