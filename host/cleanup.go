package host

import (
	"cmp"
	"slices"
	"sync"
)

// The process-wide set of started clients, for CleanupClients and the
// introspection endpoint (ServeInspect).
var live struct {
	mu      sync.Mutex
	clients map[*Client]struct{}
}

func register(c *Client) {
	live.mu.Lock()
	defer live.mu.Unlock()
	if live.clients == nil {
		live.clients = map[*Client]struct{}{}
	}
	live.clients[c] = struct{}{}
}

func unregister(c *Client) {
	live.mu.Lock()
	defer live.mu.Unlock()
	delete(live.clients, c)
}

// CleanupClients closes every client of this process that is still open,
// concurrently, and returns when all their plugins are gone. A host calls
// it (typically deferred in main) before it exits, so that no plugin is
// left to notice the host's death by itself.
func CleanupClients() {
	live.mu.Lock()
	cs := make([]*Client, 0, len(live.clients))
	for c := range live.clients {
		cs = append(cs, c)
	}
	live.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Close() }()
	}
	wg.Wait()
}

// liveStats returns the Stats of every client of this process that has
// started and is not closed, ordered by name and then plugin PID, so that
// a view refreshed every second keeps its rows in place. The clients are
// looked at after the registry's lock is released, so that a Start or a
// Close elsewhere does not wait for the look (a client closed meanwhile
// shows as "closed").
func liveStats() []ClientStats {
	live.mu.Lock()
	cs := make([]*Client, 0, len(live.clients))
	for c := range live.clients {
		cs = append(cs, c)
	}
	live.mu.Unlock()
	out := make([]ClientStats, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Stats())
	}
	slices.SortFunc(out, func(a, b ClientStats) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Pid, b.Pid))
	})
	return out
}
