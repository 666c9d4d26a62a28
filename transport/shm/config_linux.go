package shm

import "math"

// DefaultMaxPayload is the MaxPayload of a Config left zero. Shared memory
// has no natural limit (a payload above the largest slot class travels in a
// memfd of its own), so the limit only bounds how much memory one frame may
// make the receiver map.
const DefaultMaxPayload = 1 << 30

// Config tunes one Transport. The zero value is ready to use. The
// segment's geometry and wait bounds are shm.Config's, given to NewLink,
// Pair or OpenInherited.
type Config struct {
	// MaxPayload is the largest payload of one frame, in either
	// direction. Both ends of a link must agree: a frame above the
	// receiver's limit is a protocol violation that breaks the link. Zero
	// or less means DefaultMaxPayload; values above the 32-bit length
	// field are capped.
	MaxPayload int
}

func (c Config) withDefaults() Config {
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if limit := uint64(math.MaxUint32); uint64(c.MaxPayload) > limit {
		c.MaxPayload = int(limit)
	}
	return c
}
