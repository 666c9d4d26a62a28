package plexustest

import (
	"bytes"
	"sync"
)

// LogBuffer collects what several goroutines write (a host's log, a
// plugin's output copied in), for a test to show when it fails or to
// search: give it to hclog.LoggerOptions.Output or host.Config's Logger.
// It is safe for concurrent use; its zero value is ready.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
