package hostile

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// Attacks through the segment: rings, descriptors, both pools, the header
// and the doorbells, written through the attacker's own mapping.

func segmentAttacks() []*pluginAttackDef {
	calls := &callPlan{N: 3, Concurrency: 3, Size: 1024, Deadline: time.Second}
	return []*pluginAttackDef{
		{Name: "Ring_GarbageDescriptors", Plugin: ringGarbage},
		// The tail is a figure (SPEC.md "Ring": cells are published by
		// their stamps): garbage there must change nothing.
		{Name: "Ring_TailBeyondCapacity", Plugin: tailBeyondCapacity, End: endSurvive, Check: okCalls("tail")},
		{Name: "Ring_TailBackwards", Plugin: tailBackwards, End: endSurvive, Check: okCalls("tail")},
		{Name: "Desc_InlineTooLong", Plugin: inlineTooLong},
		{Name: "Desc_SlotOutOfRange", Plugin: slotOutOfRange},
		{Name: "Desc_StaleGeneration", Plugin: staleGeneration},
		{Name: "Pool_HostFreeListScribbled", Plugin: peerFreeList, Host: hostPlan{Calls: calls}},
		{Name: "Pool_HostGensScribbled", Plugin: peerGens, Host: hostPlan{Calls: calls}},
		{Name: "Pool_PluginPoolScribbled", Plugin: ownPoolScribbled, End: endEither},
		{Name: "Pool_WaitingFlagsScribbled", Plugin: waitingFlags, End: endEither,
			Host: hostPlan{Calls: &callPlan{N: 20, Concurrency: 4, Size: 16, Deadline: time.Second}}},
		{Name: "Header_Scribbled", Plugin: headerScribbled, End: endSurvive, Check: okCalls("header")},
		{Name: "Doorbell_SpuriousRings", Plugin: spuriousRings, End: endSurvive, Check: okCalls("spurious")},
		{Name: "Life_WordRewritten", Plugin: lifeRewritten, Host: hostPlan{CPU: true}, End: endSurvive,
			Check: both(checkP6, okCalls("life"))},
		{Name: "Life_DeathClaimed", Plugin: lifeDeathClaimed, Codes: []plexus.Code{plexus.PeerDied},
			MsgAny: []string{"exiting"}},
	}
}

// both runs two checks.
func both(a, b func(r *hostReport) []string) func(r *hostReport) []string {
	return func(r *hostReport) []string { return append(a(r), b(r)...) }
}

// pluginLife is the plugin's life word (SPEC.md "Segment": offset 16 of
// the plugin's line at 192), which the host waits on.
const pluginLife = 192 + 16

// lifeRewritten rewrites the plugin's life word in a loop, never with the
// death bit, waking the host's watcher each time: the host must neither
// spin (its CPU is measured meanwhile) nor take it for a death.
func lifeRewritten(p *peer) error {
	word := p.word32(pluginLife)
	p.phase("armed")
	for end, v := time.Now().Add(1500*time.Millisecond), uint32(1); time.Now().Before(end); v++ {
		word.Store(v & 0x3fffffff)
		futexWake(word)
	}
	p.callsAfter("life", 3)
	return nil
}

// lifeDeathClaimed marks the plugin's own life word dead while the
// process lives on: the host believes it (SPEC.md), ending the link with
// PeerDied, and kills the plugin as it would a dead one.
func lifeDeathClaimed(p *peer) error {
	word := p.word32(pluginLife)
	word.Store(0xc0000000) // waiters, owner died
	futexWake(word)
	time.Sleep(1500 * time.Millisecond)
	return nil
}

func futexWake(word *atomic.Uint32) {
	const wake = 1 // FUTEX_WAKE, shared
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), wake, 1<<31-1, 0, 0, 0)
}

// okCalls checks that the plugin's calls after the attack (result key)
// all succeeded.
func okCalls(key string) func(r *hostReport) []string {
	return func(r *hostReport) []string {
		var res struct{ OK, Calls int }
		if err := r.result(key, &res); err != nil {
			return []string{err.Error()}
		}
		if res.Calls == 0 || res.OK != res.Calls {
			return []string{fmt.Sprintf("the plugin's calls to the host after the attack: %d of %d succeeded", res.OK, res.Calls)}
		}
		return nil
	}
}

// callsAfter makes n echo calls to the other side and reports how many
// succeeded under key.
func (p *peer) callsAfter(key string, n int) {
	ok := 0
	for i := range n {
		text := fmt.Sprintf("call %d after the attack", i)
		if o, err := p.call(echoID, []byte(text), time.Second); err == nil && o.code == plexus.OK {
			ok++
		}
	}
	p.result(key, map[string]any{"ok": ok, "calls": n})
}

func ringGarbage(p *peer) error {
	rng := rand.New(rand.NewPCG(1, 2))
	ds := make([]wire.Desc, 16)
	for i := range ds {
		for j := range ds[i] {
			ds[i][j] = byte(rng.Uint32())
		}
	}
	return p.publish(ds...)
}

// tailBeyondCapacity and tailBackwards write an impossible tail into the
// ring this side produces and ring the other side. The consumer there
// decides what to read by the cells' stamps, never by the tail, so the
// link goes on: calls made afterwards must all succeed.
func tailBeyondCapacity(p *peer) error {
	p.quiesce()
	tx := p.tx()
	p.ringTail(tx).Store(p.ringHead(tx).Load() + uint64(p.lay.ringCap[tx]) + 7)
	return p.tailThenCalls(tx)
}

func tailBackwards(p *peer) error {
	p.quiesce()
	tx := p.tx()
	p.ringTail(tx).Store(p.ringTail(tx).Load() - 2)
	return p.tailThenCalls(tx)
}

func (p *peer) tailThenCalls(tx int) error {
	if err := p.ring(bellData, tx, 1); err != nil {
		return err
	}
	time.Sleep(40 * time.Millisecond) // the other side looks at the ring
	p.paused.Store(false)             // (quiesce stopped our pump)
	p.callsAfter("tail", 3)
	return nil
}

func inlineTooLong(p *peer) error {
	d := newDesc(wire.KindNotify, 0, wire.FlagMsg|wire.FlagInline)
	d.SetMethod(slowID)
	d.SetLength(wire.InlineMax + 1)
	return p.publish(d)
}

func slotOutOfRange(p *peer) error {
	d := newDesc(wire.KindNotify, 0, wire.FlagMsg)
	d.SetMethod(slowID)
	d.SetSlotRef(0x00ffffff, 1, 0, 100)
	return p.publish(d)
}

func staleGeneration(p *peer) error {
	s, err := p.ep.Alloc(100)
	if err != nil {
		return err
	}
	d := newDesc(wire.KindNotify, 0, wire.FlagMsg)
	d.SetMethod(slowID)
	d.SetSlotRef(s.Index, s.Gen+2, 0, 100)
	return p.publish(d)
}

// peerFreeList scribbles the other side's pool: every free-list head and
// next link out of range. Its next allocation must see it.
func peerFreeList(p *peer) error {
	d := p.rx()
	for c := range p.lay.nclasses[d] {
		p.classHead(d, c).Store(0xdead<<32 | 0x00ffffff)
	}
	for i := range p.lay.nslots[d] {
		p.slotNext(d, i).Store(0xfffffff0)
	}
	p.phase("armed")
	return nil
}

// peerGens marks every slot of the other side's pool allocated (odd gens).
func peerGens(p *peer) error {
	d := p.rx()
	for i := range p.lay.nslots[d] {
		p.slotGen(d, i).Store(1)
	}
	p.phase("armed")
	return nil
}

// ownPoolScribbled scribbles this side's own pool (heads, gens, next
// links) while the other side frees slots into it.
func ownPoolScribbled(p *peer) error {
	d := p.tx()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = p.call(echoID, bytes.Repeat([]byte{byte('a' + i)}, 1024), time.Second)
		}()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for t0 := time.Now(); time.Since(t0) < 300*time.Millisecond; {
		for c := range p.lay.nclasses[d] {
			p.classHead(d, c).Store(rng.Uint64())
		}
		for i := range p.lay.nslots[d] {
			p.slotGen(d, i).Store(rng.Uint32())
			p.slotNext(d, i).Store(rng.Uint32())
		}
	}
	wg.Wait()
	return nil
}

// waitingFlags scribbles every parked and waiting flag of both rings and
// both pools while calls go both ways.
func waitingFlags(p *peer) error {
	p.phase("armed")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			_, _ = p.call(echoID, []byte(fmt.Sprint("flags ", i)), time.Second)
		}
	}()
	vals := []uint32{0xffffffff, 2, 0, 1, 0x80000000}
	for t0, i := time.Now(), 0; time.Since(t0) < 500*time.Millisecond; i++ {
		v := vals[i%len(vals)]
		for d := range 2 {
			p.ringParked(d).Store(v)
			p.ringWaiting(d).Store(v)
			p.poolWaiting(d).Store(v)
		}
		time.Sleep(50 * time.Microsecond)
	}
	wg.Wait()
	return nil
}

// headerScribbled overwrites the whole header page after both sides
// opened the segment: nobody may read its layout again.
func headerScribbled(p *peer) error {
	for i := range 4096 {
		if i >= pluginLife && i < pluginLife+4 {
			continue // its own attacks (Life_*): a death bit there is believed
		}
		p.mem[i] = 0xff
	}
	p.callsAfter("header", 3)
	return nil
}

// spuriousRings rings all four doorbells many times: a wake-up with
// nothing to do must cost nothing but the wake-up.
func spuriousRings(p *peer) error {
	for range 2500 {
		for k := range 2 {
			for d := range 2 {
				_ = p.ring(k, d, 1)
			}
		}
	}
	p.callsAfter("spurious", 3)
	return nil
}

// saturateDoorbells (point 3): every doorbell the other side writes or
// waits on is set to its maximum (with blocking, after clearing
// O_NONBLOCK on it, which both processes share), and this side looks
// asleep and waiting for ring space and a slot, so that the other side
// must ring. A call in a slot of ours, made between the two steps (it may
// ring the one doorbell still untouched), makes it answer and free the
// slot.
func saturateDoorbells(blocking bool) func(p *peer) error {
	return func(p *peer) error {
		p.quiesce()
		tx, rx := p.tx(), p.rx()
		sat := map[string]bool{}
		jam := func(name string, kind, d int) error {
			if blocking {
				if err := p.setBlocking(kind, d, true); err != nil {
					return err
				}
			}
			sat[name] = p.saturate(kind, d)
			return nil
		}
		p.ringParked(rx).Store(1)
		p.ringWaiting(tx).Store(1)
		p.poolWaiting(tx).Store(1)
		for _, b := range []struct {
			name    string
			kind, d int
		}{
			{"dataToUs", bellData, rx},     // rung to send to us while we sleep
			{"spaceToUs", bellSpace, tx},   // rung when our slots or ring positions free up
			{"spaceToThem", bellSpace, rx}, // the one the other side waits on for space
		} {
			if err := jam(b.name, b.kind, b.d); err != nil {
				return err
			}
		}
		if _, _, _, err := p.open(echoID, wire.FlagMsg|wire.FlagEnd, bytes.Repeat([]byte{'s'}, 100), false); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
		if err := jam("dataToThem", bellData, tx); err != nil { // its own reader's doorbell
			return err
		}
		p.result("p3", sat)
		p.phase("armed")
		return nil
	}
}

// headPastTail (point 6): the other side's consumer head of our ring set
// one past the tail, with no data; then the link stays idle.
func headPastTail(p *peer) error {
	time.Sleep(50 * time.Millisecond)
	tx := p.tx()
	p.ringHead(tx).Store(p.ringTail(tx).Load() + 1)
	if err := p.ring(bellData, tx, 1); err != nil {
		return err
	}
	p.phase("armed")
	time.Sleep(1500 * time.Millisecond)
	return nil
}
