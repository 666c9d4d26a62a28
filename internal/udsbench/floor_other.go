//go:build !unix

package udsbench

import (
	"errors"
	"time"
)

// serveFloor: there are no peers here (see socketpair).
func serveFloor(int) error { return errors.ErrUnsupported }

// PingPongFloor needs Unix, as StartPeer does.
func PingPongFloor(*Peer, int, []time.Duration) error { return errors.ErrUnsupported }
