package retry

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// TestConcurrentUse: many goroutines share one Conn and its throttle;
// each call's attempts keep to that call (its own key, its own
// response), and every call ends as its script says. Run under -race.
func TestConcurrentUse(t *testing.T) {
	const (
		goroutines = 16
		calls      = 40
	)
	// The first attempt of each logical call fails (not sent for Put,
	// UNAVAILABLE for Get), the second succeeds echoing the request.
	var mu sync.Mutex
	seen := map[string]int{} // attempts per logical call
	f := &fakeConn{}
	f.script = func(r record) step {
		id := string(r.req.(plexus.Raw))
		if r.md["call"] != id {
			// Not require: this runs on the calling goroutines.
			return step{err: fmt.Errorf("attempt of %s carries the metadata of %q", id, r.md["call"])}
		}
		if r.method == getID {
			id = r.md[session.IdempotencyKey] + "/" + id
		}
		mu.Lock()
		defer mu.Unlock()
		seen[id]++
		switch {
		case seen[id] > 1:
			return step{decode: string(r.req.(plexus.Raw))}
		case r.method == getID:
			return step{err: unavailable()}
		}
		return step{err: notSent()}
	}
	var s sleeps
	c := newTestConn(t, f, Config{Services: services, Throttle: &Throttle{MaxTokens: 100, TokenRatio: 1}}, &s)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				id := fmt.Sprintf("g%d-c%d", g, i)
				method := putID
				if i%2 == 0 {
					method = getID
				}
				var resp plexus.Raw
				cctx := plexus.WithMetadata(ctx, plexus.Metadata{"call": id})
				if err := c.Invoke(cctx, method, plexus.Raw(id), &resp); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
				if string(resp) != id {
					errs <- fmt.Errorf("%s: got the response %q", id, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Len(t, seen, goroutines*calls, "one key per logical Get, one ID per Put")
	for id, n := range seen {
		require.Equal(t, 2, n, id)
	}
	// Every Get took one token and gave one back; the bucket is full.
	require.Equal(t, c.t.bucket.max, c.t.bucket.tokens.Load())
}
