package session

// Stats is a snapshot of a session's activity, for inspection (plexus
// inspect, through host.Client.Stats).
type Stats struct {
	// Channels is the number of channels open: CallsOut + CallsIn.
	Channels int `json:"channels"`
	// CallsOut are calls and streams this side opened that have not
	// finished; CallsIn are the peer's that this side is serving (or
	// holds for admission, see Config.MaxPeerCalls).
	CallsOut int `json:"calls_out"`
	CallsIn  int `json:"calls_in"`
	// FramesReceived counts every frame taken off the transport since
	// the session started (keepalive's measure of a live peer).
	FramesReceived uint64 `json:"frames_received"`
	// Ended is set once the session is over; Err then says why.
	Ended bool   `json:"ended,omitempty"`
	Err   string `json:"error,omitempty"`
}

// Stats returns a snapshot of the session. It is read-only and safe to
// call from any goroutine at any time, after the end too (Ended set, no
// channels). It holds the session's lock while it counts the open
// channels, as opening and finishing a call do, so it delays calls by a
// few nanoseconds per channel open: meant for a look now and then, not
// for every call.
func (s *Session) Stats() Stats {
	st := Stats{FramesReceived: s.rxFrames.Load()}
	s.mu.Lock()
	// A channel's local flag is set before the channel enters the map and
	// changed only after it has left it, both under mu (see newChannel,
	// removeChannel), so reading it here is ordered with both.
	for _, ch := range s.chans.all() {
		if ch.local {
			st.CallsOut++
		} else {
			st.CallsIn++
		}
	}
	if s.err != nil {
		st.Ended, st.Err = true, s.err.Error()
	}
	s.mu.Unlock()
	st.Channels = st.CallsOut + st.CallsIn
	return st
}
