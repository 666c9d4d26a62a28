package demoutil

import (
	"io"
	"sync"
)

// LockedWriter serialises writes to W, so that writers on several
// goroutines (a host's log, a child's output copied in by os/exec, the
// demo's own lines) can share one output without interleaving inside a
// line.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}
