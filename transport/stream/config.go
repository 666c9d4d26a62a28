package stream

import "math"

// Defaults for Config fields left zero.
const (
	DefaultMaxPayload = 16 << 20
	DefaultBufferSize = 64 << 10
)

// Config tunes one Transport. The zero value is ready to use.
type Config struct {
	// MaxPayload is the largest payload of one frame, in either direction.
	// Both ends of a link must agree: a frame above the receiver's limit
	// is a protocol violation that closes the link. Zero or less means
	// DefaultMaxPayload; values above the 32-bit length field are capped.
	MaxPayload int
	// BufferSize is the size of the read buffer and of the write buffer
	// that coalesces small frames from concurrent senders into one write.
	// Zero or less means DefaultBufferSize; it is at least 4 KiB.
	BufferSize int
}

func (c Config) withDefaults() Config {
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if limit := uint64(math.MaxUint32); uint64(c.MaxPayload) > limit {
		c.MaxPayload = int(limit) // only reachable where int has 64 bits
	}
	if c.BufferSize <= 0 {
		c.BufferSize = DefaultBufferSize
	}
	c.BufferSize = max(c.BufferSize, 4<<10)
	return c
}
