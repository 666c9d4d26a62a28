package host

import (
	"io"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// stdio is what a client's plugin instances share of Config.Stdin,
// Config.Stdout and Config.Stderr: one instance's forwarders may still be
// draining while the next starts, so the writers and the reader are
// guarded here, per client, not per instance.
type stdio struct {
	stdin          *stdinFeed // nil: no stdin, or an *os.File passed as it is
	stdout, stderr io.Writer  // nil: none
}

func newStdio(cfg *Config, log hclog.Logger) *stdio {
	s := &stdio{}
	if cfg.Stdin != nil {
		if _, ok := cfg.Stdin.(*os.File); !ok {
			s.stdin = &stdinFeed{r: cfg.Stdin}
		}
	}
	mu := new(sync.Mutex) // one for both: Stdout and Stderr may be the same writer
	if cfg.Stdout != nil {
		s.stdout = &rawOut{mu: mu, w: cfg.Stdout, log: log, name: "Config.Stdout"}
	}
	if cfg.Stderr != nil {
		s.stderr = &rawOut{mu: mu, w: cfg.Stderr, log: log, name: "Config.Stderr"}
	}
	return s
}

// rawOut passes a plugin's raw output to Config.Stdout or Config.Stderr,
// one write at a time across both streams and every instance. A writer
// that fails is dropped (and that logged once), so that it cannot stop
// the forwarding into the logger, nor block the plugin on a full pipe.
type rawOut struct {
	mu     *sync.Mutex
	w      io.Writer
	failed bool // under mu
	log    hclog.Logger
	name   string
}

// Write never fails: see rawOut.
func (o *rawOut) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.failed {
		if _, err := o.w.Write(p); err != nil {
			o.failed = true
			o.log.Warn("the plugin's output writer failed; no longer writing to it", "writer", o.name, "error", err)
		}
	}
	return len(p), nil
}

// stdinFeed copies Config.Stdin, when it is not an *os.File, into each
// instance's stdin pipe, one instance at a time. Its mutex is held across
// a read and the write of what was read, so the reader is never read
// concurrently (io.Reader does not promise that it may be); bytes read
// for an instance that died before taking them are kept for the next
// one. What a dead instance took into its pipe but did not read is lost.
type stdinFeed struct {
	mu      sync.Mutex
	r       io.Reader
	pending []byte // read, not yet written into a live pipe
	err     error  // the reader's final error (io.EOF at its end)
	buf     []byte
}

// copyTo feeds w, an instance's stdin pipe, until the reader ends (then w
// is closed and the plugin reads end of file) or the instance is gone (a
// write fails). A read blocked in the reader outlives the instance until
// it returns, as with os/exec.
func (f *stdinFeed) copyTo(w *os.File) {
	defer w.Close()
	for {
		if !f.step(w) {
			return
		}
	}
}

// step moves one read's worth into w; false once there is nothing more
// to do for this pipe.
func (f *stdinFeed) step(w *os.File) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) == 0 {
		if f.err != nil {
			return false
		}
		if f.buf == nil {
			f.buf = make([]byte, 32<<10)
		}
		n, err := f.r.Read(f.buf)
		f.pending = append(f.pending, f.buf[:n]...)
		f.err = err
		if n == 0 {
			return err == nil
		}
	}
	n, err := w.Write(f.pending)
	f.pending = f.pending[n:]
	if len(f.pending) == 0 {
		f.pending = nil
	}
	return err == nil
}
