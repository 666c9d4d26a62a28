package hostile

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus/host"
)

// honestCaller keeps calling the honest plugin, each call with a 1 s
// deadline, and records failures and the worst latency.
type honestCaller struct {
	c      *host.Client
	paused atomic.Bool
	inCall sync.Mutex // held during a call
	quit   chan struct{}
	done   chan struct{}

	mu sync.Mutex
	st honestStats
}

func startHonest(c *host.Client) *honestCaller {
	h := &honestCaller{c: c, quit: make(chan struct{}), done: make(chan struct{})}
	go h.loop()
	return h
}

func (h *honestCaller) loop() {
	defer close(h.done)
	for i := 0; ; i++ {
		select {
		case <-h.quit:
			return
		case <-time.After(2 * time.Millisecond):
		}
		h.inCall.Lock()
		if h.paused.Load() {
			h.inCall.Unlock()
			continue
		}
		t0 := time.Now()
		err := echoCall(h.c, fmt.Sprintf("honest call %d", i), time.Second)
		d := time.Since(t0)
		h.inCall.Unlock()
		h.mu.Lock()
		h.st.Calls++
		h.st.WorstMs = max(h.st.WorstMs, ms(d))
		if err != nil {
			h.st.Failures++
			if h.st.FirstErr == "" {
				h.st.FirstErr = err.Error()
			}
		}
		h.mu.Unlock()
	}
}

// pause stops the calls (for a measurement) and waits out the one in
// flight.
func (h *honestCaller) pause() {
	h.paused.Store(true)
	h.inCall.Lock() // the call in flight holds it: taking it is the wait
	//lint:ignore SA2001 the critical section is empty on purpose (see above)
	h.inCall.Unlock()
}

func (h *honestCaller) resume() { h.paused.Store(false) }

func (h *honestCaller) reset() {
	h.mu.Lock()
	h.st = honestStats{}
	h.mu.Unlock()
}

func (h *honestCaller) snapshot() honestStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

func (h *honestCaller) stop() {
	close(h.quit)
	<-h.done
}
