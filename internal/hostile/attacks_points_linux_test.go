package hostile

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// The ten points of issue 12, one attack (or two variants) each; their
// names start with the point's number. Each failed before its fix.

// Bounds the points' fixes promise.
const (
	memoryBoundKB    = 64 << 10                    // point 4: a notification flood
	shmemBoundKB     = 32 << 10                    // point 5: system Shmem while sparse memfds are held
	cpuBound         = 0.2                         // point 6: cores, on an idle link
	peerCallSlots    = session.DefaultMaxPeerCalls // point 7: handlers running at once for the peer's calls
	channelMemBoundK = 192 << 10
	deadlineSlack    = 250 * time.Millisecond         // points 3 and 9
	pendingBlobs     = shmlink.DefaultMaxPendingBlobs // point 10: blob descriptors held unclaimed
	linkFdSlack      = 40                             // descriptors of the hostile link itself (socket, memfd, doorbells, pipes)
)

func pointAttacks() []*pluginAttackDef {
	return []*pluginAttackDef{
		{Name: "P1_ArgCountFlip", Plugin: argCountFlip, End: endEither, Check: checkP1},
		{Name: "P2_PackedRecordRewrite", Plugin: packedRewrite, MsgAny: []string{"packed"}},
		{Name: "P3_DoorbellSaturated", Plugin: saturateDoorbells(false), Host: p3Plan, Check: checkP3},
		{Name: "P3_DoorbellSaturatedBlocking", Plugin: saturateDoorbells(true), Host: p3Plan, Check: checkP3},
		{Name: "P4_NotifyFloodBeyondCredit", Plugin: notifyFlood(false), MsgAny: []string{"window", "credit"},
			Check: checkMemory(memoryBoundKB)},
		{Name: "P4_NotifyFloodHonest", Plugin: notifyFlood(true), End: endSurvive, Check: checkP4Honest},
		{Name: "P5_SparseBlob", Plugin: sparseBlob, MsgAny: holesMsg, Check: checkShmem(256 << 10)},
		{Name: "P5_SparseBuffer", Plugin: sparseBuffer, MsgAny: holesMsg, Check: checkShmem(256 << 10)},
		{Name: "P5_AnnounceForgetCycles", Plugin: announceForget, MsgAny: holesMsg, Check: checkShmem(512 << 10)},
		{Name: "P6_HeadPastTail", Plugin: headPastTail, Host: hostPlan{CPU: true}, End: endEither, Check: checkP6},
		{Name: "P7_ChannelFlood", Plugin: channelFlood(false), End: endEither, Check: checkP7},
		{Name: "P7_ChannelFloodBeyondCredit", Plugin: channelFlood(true), End: endEither, Check: checkP7},
		{Name: "P8_PausedConsumerResumes", Plugin: pausedConsumer(true), Host: hostPlan{SegWait: 300 * time.Millisecond},
			End: endSurvive, Check: checkP8},
		{Name: "P8_PingFloodNeverResumes", Plugin: pausedConsumer(false), AnyEnd: true,
			Host:  hostPlan{SegWait: 300 * time.Millisecond, Calls: &callPlan{N: 2, Concurrency: 2, Size: 16, Deadline: time.Second}},
			Check: checkCallsWithin("")},
		// 33 KiB arguments take the 64 KiB class's slots, 16 of them: the
		// calls after the 16th wait for a slot, within their deadline,
		// well inside the link's window (1 MiB). (A payload above 64 KiB
		// no longer waits for one of the few 1 MiB slots: it goes as a
		// blob, which this raw peer does not read.)
		{Name: "P9_SlotWaitHonoursDeadline", Plugin: stopReading(false), End: endEither, Codes: []plexus.Code{plexus.PeerDied},
			Host:  hostPlan{Calls: &callPlan{N: 24, Concurrency: 6, Size: 33 << 10, Deadline: 500 * time.Millisecond}, Resume: true, Bound: 40 * time.Second},
			Check: checkCallsWithin("DEADLINE_EXCEEDED")},
		{Name: "P9_RingSpaceWaitHonoursDeadline", Plugin: stopReading(true), End: endEither, Codes: []plexus.Code{plexus.PeerDied},
			Host:  hostPlan{Calls: &callPlan{N: 6, Concurrency: 6, Size: 16, Deadline: 500 * time.Millisecond}, Resume: true, Bound: 40 * time.Second},
			Check: checkCallsWithin("DEADLINE_EXCEEDED")},
		{Name: "P10_BlobFlood", Plugin: blobFlood, MsgAny: []string{"not claimed"}, Check: checkP10},
	}
}

var (
	p3Plan   = hostPlan{Calls: &callPlan{N: 3, Concurrency: 3, Size: 16, Deadline: time.Second}, Bound: 20 * time.Second}
	holesMsg = []string{"holes", "not allocated"}
)

// result decodes the hostile plugin's observation key into v.
func (r *hostReport) result(key string, v any) error {
	raw, ok := r.Plugin[key]
	if !ok {
		return fmt.Errorf("the hostile plugin reported no %q", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("the hostile plugin's %q: %v", key, err)
	}
	return nil
}

func checkP1(r *hostReport) []string {
	var res struct {
		Calls, OK, Invalid, Other int
		OtherMsg                  string
	}
	if err := r.result("p1", &res); err != nil {
		return []string{err.Error()}
	}
	var out []string
	if res.Calls < 100 && !r.Ended {
		out = append(out, fmt.Sprintf("only %d flipped calls were answered", res.Calls))
	}
	if res.Other > 0 {
		out = append(out, fmt.Sprintf("%d calls ended neither OK nor INVALID_ARGUMENT, e.g. %s", res.Other, res.OtherMsg))
	}
	return out
}

// checkCallsWithin: every call of the host's batch returned within its
// deadline plus deadlineSlack, with code (if not empty).
func checkCallsWithin(code string) func(r *hostReport) []string {
	return func(r *hostReport) []string {
		if len(r.Calls) == 0 {
			return []string{"the host made no calls during the attack (the plugin never armed it)"}
		}
		var out []string
		for i, c := range r.Calls {
			limit := ms(r.callDeadline() + deadlineSlack)
			if c.Hung || c.Ms > limit {
				out = append(out, fmt.Sprintf("call %d took %.0f ms (limit %.0f ms): %s %s", i, c.Ms, limit, c.Code, c.Msg))
			} else if code != "" && c.Code != code {
				out = append(out, fmt.Sprintf("call %d ended with %s, want %s: %s", i, c.Code, code, c.Msg))
			}
		}
		return out
	}
}

// callDeadline is the deadline of the attack's host calls.
func (r *hostReport) callDeadline() time.Duration {
	if a := pluginAttack(r.Attack); a != nil && a.Host.Calls != nil {
		return a.Host.Calls.Deadline
	}
	return time.Second
}

func checkP3(r *hostReport) []string {
	out := checkCallsWithin("")(r)
	if r.CloseMs > 5000 {
		out = append(out, fmt.Sprintf("Client.Close took %.0f ms", r.CloseMs))
	}
	var sat map[string]bool
	if err := r.result("p3", &sat); err != nil && !r.Ended {
		return append(out, err.Error())
	}
	for k, ok := range sat {
		if !ok {
			out = append(out, "the plugin could not saturate doorbell "+k)
		}
	}
	return out
}

// checkMemory: the host's anonymous memory rose by less than boundKB
// during the attack.
func checkMemory(boundKB int64) func(r *hostReport) []string {
	return func(r *hostReport) []string {
		return grewBy("host's RssAnon", r.Base.RssAnonKB, r.Peak.RssAnonKB, boundKB)
	}
}

// grewBy is the memory check of both suites: what (a process's memory
// figure) must rise from base to peak by less than boundKB.
func grewBy(what string, base, peak, boundKB int64) []string {
	if grew := peak - base; grew >= boundKB {
		return []string{fmt.Sprintf("the %s grew by %d MiB during the attack (bound %d MiB)", what, grew>>10, boundKB>>10)}
	}
	return nil
}

func checkP4Honest(r *hostReport) []string {
	out := checkMemory(memoryBoundKB)(r)
	var res struct {
		Sent, Stalls     int
		Stuck, Recovered bool
	}
	if err := r.result("p4", &res); err != nil {
		return append(out, err.Error())
	}
	if res.Stalls == 0 {
		out = append(out, fmt.Sprintf("the honest flood sent %d notifications and was never held back by credit", res.Sent))
	}
	if res.Stuck || !res.Recovered {
		out = append(out, fmt.Sprintf("the honest flood's credit did not come back (stuck %v, recovered %v)", res.Stuck, res.Recovered))
	}
	return out
}

// checkShmem: the sparse memfds the plugin sent (and kept) were not
// allocated by the host, and the system's Shmem did not grow by their
// size. (Shmem is the whole system's: the bound on it is loose, half the
// sparse bytes, so that other processes' shared memory cannot fail the
// test; the memfds' own allocation is exact.)
func checkShmem(sparseKB int64) func(r *hostReport) []string {
	return func(r *hostReport) []string {
		var out []string
		var res struct{ AllocatedKB int64 }
		if err := r.result("p5", &res); err == nil && res.AllocatedKB >= shmemBoundKB {
			out = append(out, fmt.Sprintf("%d MiB of the plugin's sparse memfds were allocated by the host (bound %d MiB)", res.AllocatedKB>>10, shmemBoundKB>>10))
		} else if err != nil && !r.Ended {
			out = append(out, err.Error())
		}
		if grew := r.Peak.ShmemKB - r.ShmemKB; grew >= sparseKB/2 {
			out = append(out, fmt.Sprintf("the system's Shmem grew by %d MiB during the attack, the size of the sparse memfds (%d MiB)", grew>>10, sparseKB>>10))
		}
		return out
	}
}

func checkP6(r *hostReport) []string {
	if !r.Armed {
		return []string{"the plugin never armed the attack"}
	}
	if d := r.CPU - r.CPUBase; d >= cpuBound {
		return []string{fmt.Sprintf("the host used %.0f%% of a core on the idle link (%.0f%% before the plugin started)", 100*r.CPU, 100*r.CPUBase)}
	}
	return nil
}

func checkP7(r *hostReport) []string {
	var out []string
	// The handlers of the flood's calls, plus the idle workers of the two
	// sessions (at most 32 each) and their readers.
	if g := r.Peak.Goroutines - r.Base.Goroutines; g > peerCallSlots+96 {
		out = append(out, fmt.Sprintf("the host ran %d more goroutines during the attack (bound %d)", g, peerCallSlots+96))
	}
	bound := int64(channelMemBoundK)
	if raceEnabled {
		bound *= 4 // the race detector's state per goroutine
	}
	if grew := r.Peak.RssAnonKB - r.Base.RssAnonKB; grew >= bound {
		out = append(out, fmt.Sprintf("the host's RssAnon grew by %d MiB during the attack (bound %d MiB)", grew>>10, bound>>10))
	}
	var res struct {
		Opened, Refused    int
		Stalled, Recovered bool
	}
	if err := r.result("p7", &res); err != nil {
		if r.Ended {
			return out // killed over its credit before it could tell
		}
		return append(out, err.Error())
	}
	// The calls beyond the bound were refused, or held back by credit
	// (or the link ended over credit the plugin did not have).
	if !res.Stalled && !r.Ended && res.Refused < res.Opened-peerCallSlots-64 {
		out = append(out, fmt.Sprintf("%d streams opened, %d refused with RESOURCE_EXHAUSTED, and credit never ran out", res.Opened, res.Refused))
	}
	if !r.Ended && !res.Recovered {
		out = append(out, "after the plugin cancelled its streams, its link credit did not come back")
	}
	return out
}

func checkP8(r *hostReport) []string {
	var res struct {
		Pings           int
		PongAfterResume bool
	}
	if err := r.result("p8", &res); err != nil {
		return []string{err.Error()}
	}
	if !res.PongAfterResume {
		return []string{fmt.Sprintf("after %d pings into a paused ring, a new PING got no PONG: the host's control writer stopped", res.Pings)}
	}
	return nil
}

func checkP10(r *hostReport) []string {
	if extra := r.Peak.Fds - r.Base.Fds; extra > pendingBlobs+linkFdSlack {
		return []string{fmt.Sprintf("the host held %d more descriptors during the attack (bound %d + %d for the link)", extra, pendingBlobs, linkFdSlack)}
	}
	return nil
}
