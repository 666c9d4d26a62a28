package hostile

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"time"
)

// logCapture is the host role's log: hclog JSON lines, kept for the
// current attack's report, scanned for the hostile plugin's phase and
// result lines (its stdout, which the host forwards), and optionally
// copied to stderr.
type logCapture struct {
	echo bool

	mu        sync.Mutex
	partial   []byte
	lines     []string
	results   map[string]json.RawMessage
	phases    map[string]chan struct{}
	violation bool // the host logged "protocol violation; closing link" for the hostile plugin
}

func newLogCapture(echo bool) *logCapture {
	l := &logCapture{echo: echo}
	l.reset()
	return l
}

// reset starts a new attack.
func (l *logCapture) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = nil
	l.results = map[string]json.RawMessage{}
	l.phases = map[string]chan struct{}{"armed": make(chan struct{}), "done": make(chan struct{})}
	l.violation = false
}

func (l *logCapture) Write(b []byte) (int, error) {
	if l.echo {
		_, _ = os.Stderr.Write(b)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

func (l *logCapture) line(s string) {
	const keep = 400
	if len(l.lines) < keep {
		l.lines = append(l.lines, s)
	} else {
		copy(l.lines, l.lines[1:])
		l.lines[keep-1] = s
	}
	var e struct {
		Message string `json:"@message"`
		Module  string `json:"@module"`
	}
	if json.Unmarshal([]byte(s), &e) != nil || !strings.HasPrefix(e.Module, "host.hostile") {
		return
	}
	switch {
	case strings.HasPrefix(e.Message, phaseLine):
		if ch, ok := l.phases[strings.TrimPrefix(e.Message, phaseLine)]; ok {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	case strings.HasPrefix(e.Message, resultLine):
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(strings.TrimPrefix(e.Message, resultLine)), &m) == nil {
			for k, v := range m {
				l.results[k] = v
			}
		}
	case strings.Contains(e.Message, "protocol violation; closing link"):
		l.violation = true
	}
}

// phase returns the channel closed when the hostile plugin announces name.
func (l *logCapture) phase(name string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.phases[name]
}

// waitPhase waits up to d for phase name, or for stop.
func (l *logCapture) waitPhase(name string, d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.phase(name):
		return true
	case <-stop:
		return false
	case <-t.C:
		return false
	}
}

func (l *logCapture) snapshot() (lines []string, results map[string]json.RawMessage, violation bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	results = make(map[string]json.RawMessage, len(l.results))
	for k, v := range l.results {
		results[k] = v
	}
	return append([]string(nil), l.lines...), results, l.violation
}
