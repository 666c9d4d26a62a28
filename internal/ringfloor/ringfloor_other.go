//go:build !linux

package ringfloor

import "time"

// Peer is a running echo peer process (never, here).
type Peer struct{}

// Start needs Linux.
func Start() (*Peer, error) { return nil, ErrUnsupported }

// Calls needs Linux.
func (*Peer) Calls(int, time.Duration) (float64, error) { return 0, ErrUnsupported }

// Close needs Linux.
func (*Peer) Close() error { return nil }

func serve(string) error { return ErrUnsupported }
