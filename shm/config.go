package shm

import "time"

// Config sets the geometry of a new segment (used by Create) and the
// waiting behaviour of this process's Endpoint (used by Create and Open).
type Config struct {
	// RingCapacity is the number of descriptors per direction, a power of
	// two. Default 2048 (128 KiB per ring).
	RingCapacity int
	// HostClasses and PluginClasses are the slot size classes of each
	// side's sending pool. Default DefaultClasses().
	HostClasses   []Class
	PluginClasses []Class
	// Spin is how long a receiver (or a sender waiting for space) polls
	// before it parks on its doorbell. It is a time budget, not a loop
	// count, so that it means the same on every machine. Default 20us.
	// Zero after defaults means "park at once" only if NoSpin is set.
	Spin   time.Duration
	NoSpin bool
	// Wait bounds how long Alloc waits for a slot to be freed (then
	// ErrExhausted) and Send waits for ring space (then ErrTimeout).
	// Default 5s.
	Wait time.Duration
}

func (c Config) withDefaults() Config {
	if c.RingCapacity == 0 {
		c.RingCapacity = 2048
	}
	if c.HostClasses == nil {
		c.HostClasses = DefaultClasses()
	}
	if c.PluginClasses == nil {
		c.PluginClasses = DefaultClasses()
	}
	if c.Spin == 0 && !c.NoSpin {
		c.Spin = 20 * time.Microsecond
	}
	if c.NoSpin {
		c.Spin = 0
	}
	if c.Wait == 0 {
		c.Wait = 5 * time.Second
	}
	return c
}
