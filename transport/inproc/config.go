package inproc

import "math"

// Defaults for Config fields left zero.
const (
	DefaultMaxPayload = 64 << 20
	DefaultQueueLen   = 1024
)

// Config tunes a Pipe. The zero value is ready to use.
type Config struct {
	// MaxPayload is the largest payload of one frame. Zero or less means
	// DefaultMaxPayload; values above the 32-bit length field are capped.
	MaxPayload int
	// QueueLen is how many frames may wait in each direction before Send
	// blocks. Zero or less means DefaultQueueLen.
	QueueLen int
}

func (c Config) withDefaults() Config {
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if limit := uint64(math.MaxUint32); uint64(c.MaxPayload) > limit {
		c.MaxPayload = int(limit) // only reachable where int has 64 bits
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	return c
}
