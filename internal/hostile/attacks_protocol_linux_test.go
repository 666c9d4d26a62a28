package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/tinylib/msgp/msgp"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/wire"
)

// Attacks through the protocol: frames that are well-formed for the
// transport, sent by hand. Each works from either side of a link (the
// target service has the same IDs on both).

func protocolAttacks() []*pluginAttackDef {
	return []*pluginAttackDef{
		{Name: "Proto_BadKind", Plugin: badKind},
		{Name: "Proto_WrongParityOpen", Plugin: wrongParityOpen},
		{Name: "Proto_BadMetadata", Plugin: badMetadata},
		{Name: "Proto_DataBeyondChannelCredit", Plugin: dataBeyondChannelCredit, MsgAny: []string{"window"}},
		{Name: "Proto_PingFlood", Plugin: pingFlood, End: endEither},
		{Name: "Kill9_MidAttack", Plugin: kill9, Codes: []plexus.Code{plexus.PeerDied}},
	}
}

// stampArgs encodes kvtest Store.Stamp's arguments with one Entry (a msgp
// type whose Tags field is a []string), its Tags array header in the
// 32-bit form so that its count can say 0xffffffff; off is the offset of
// the count, 4-aligned.
func stampArgs() (b []byte, off int) {
	for pad := 0; ; pad++ {
		b = codec.AppendArrayHeader(nil, 6)
		b = codec.AppendTime(b, time.Unix(1_700_000_000, 0))
		b = codec.AppendNil(b)     // p *int32
		b = codec.AppendInt8(b, 3) // pri
		b = codec.AppendNil(b)     // raw Blob
		b = codec.AppendNil(b)     // nested [][]byte
		b = codec.AppendMapHeader(b, 1)
		b = codec.AppendUint16(b, 7)
		b = msgp.AppendMapHeader(b, 3)
		b = msgp.AppendString(b, "key")
		b = msgp.AppendString(b, "key"+string(bytes.Repeat([]byte{'k'}, pad)))
		b = msgp.AppendString(b, "value")
		b = msgp.AppendBytes(b, []byte("value"))
		b = msgp.AppendString(b, "tags")
		b = append(b, 0xdd) // array 32
		if off = len(b); off%4 == 0 {
			b = binary.BigEndian.AppendUint32(b, 1)
			return msgp.AppendString(b, "tag"), off
		}
	}
}

// argCountFlip (point 1): calls Stamp with its arguments in a slot of
// ours, and rewrites the Tags count between 1 and 0xffffffff while the
// other side decodes them, call after call.
func argCountFlip(p *peer) error {
	args, off := stampArgs()
	if o, err := p.call(stampID, args, 2*time.Second); err != nil || o.code != plexus.OK {
		return fmt.Errorf("Stamp without flipping: %v %v %s", err, o.code, o.msg)
	}
	var n, ok, invalid, other int
	var otherMsg string
	start := time.Now()
	for n < 1000 && time.Since(start) < 5*time.Second && !p.isDead() {
		if !p.spend(int64(len(args)+wire.DescSize), 2*time.Second) {
			break
		}
		_, res, buf, err := p.open(stampID, wire.FlagMsg|wire.FlagEnd, args, true)
		if err != nil {
			break
		}
		count := (*atomic.Uint32)(unsafe.Pointer(&buf[off]))
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			huge, one := bits.ReverseBytes32(0xffffffff), bits.ReverseBytes32(1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 64 {
					count.Store(huge)
					count.Store(one)
				}
			}
		}()
		o, err := p.wait(res, 5*time.Second)
		close(stop)
		<-stopped
		if err != nil {
			break
		}
		n++
		switch o.code {
		case plexus.OK:
			ok++
		case plexus.InvalidArgument:
			invalid++
		default:
			other++
			otherMsg = o.code.String() + ": " + o.msg
		}
	}
	p.result("p1", map[string]any{"calls": n, "ok": ok, "invalid": invalid, "other": other, "otherMsg": otherMsg})
	return nil
}

// packedRewrite (point 2): a packed DATA frame with valid records on a
// stream to Drain, whose lengths are rewritten to 0xffff after the other
// side validated the frame and before its handler reads it.
func packedRewrite(p *peer) error {
	if !p.spend(wire.DescSize, time.Second) {
		return fmt.Errorf("no credit")
	}
	id, res, _, err := p.open(drainID, 0, nil, false)
	if err != nil {
		return err
	}
	const records, size = 8, 20
	var payload []byte
	for i := range records {
		payload = binary.LittleEndian.AppendUint16(payload, size)
		payload = append(payload, bytes.Repeat([]byte{byte('a' + i)}, size)...)
	}
	p.spend(int64(len(payload)+wire.DescSize), time.Second)
	buf, err := p.sendSlot(newDesc(wire.KindData, id, wire.FlagMsg|wire.FlagPacked), payload)
	if err != nil {
		return err
	}
	time.Sleep(drainPause / 3)
	for i := range records {
		binary.LittleEndian.PutUint16(buf[i*(2+size):], 0xffff)
	}
	o, err := p.wait(res, 3*time.Second)
	p.result("p2", map[string]any{"code": o.code.String(), "msg": o.msg, "err": errText(err)})
	return nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// notifyFlood (point 4): notifications to Slow as fast as they go for up
// to 2 s; honest ones only while the link window is positive (as
// session.Notify does: they wait for the other side's grants, which is
// how a slow handler must slow them down), the others ignoring it. The
// honest flood then waits for its credit to come back.
func notifyFlood(honest bool) func(p *peer) error {
	return func(p *peer) error {
		const batch, limit = 32, 400_000
		cost := int64(wire.DescSize + len("notified"))
		ds := make([]wire.Desc, batch)
		for i := range ds {
			ds[i] = newDesc(wire.KindNotify, 0, wire.FlagMsg)
			ds[i].SetMethod(slowID)
			ds[i].SetInline([]byte("notified"))
		}
		sent, stalls, stuck := 0, 0, false
		var waited time.Duration
		start := time.Now()
		// Two seconds, and a dishonest flood goes on (up to 8 s) until it
		// has sent twice the link window: on a loaded machine the host
		// may read slowly enough that two seconds do not pass the window,
		// and then nothing went beyond credit.
		more := func() bool {
			el := time.Since(start)
			return el < 2*time.Second || (!honest && int64(sent)*cost <= 2*linkWindow && el < 8*time.Second)
		}
		for sent < limit && more() && !p.isDead() {
			n := batch
			if honest {
				if n = p.takeCredit(cost, batch); n == 0 {
					t := time.Now()
					if !p.waitCredit(5 * time.Second) {
						stuck = true
						break
					}
					if d := time.Since(t); d > 50*time.Millisecond {
						stalls++
						waited += d
					}
					continue
				}
			} else {
				p.credit.Add(-cost * batch)
			}
			if err := p.publish(ds[:n]...); err != nil {
				break
			}
			sent += n
		}
		res := map[string]any{"sent": sent, "stalls": stalls, "waitedMs": ms(waited), "stuck": stuck, "ms": ms(time.Since(start))}
		if honest {
			res["recovered"] = p.waitCredit(10 * time.Second)
		}
		p.result("p4", res)
		return nil
	}
}

// takeCredit takes cost for up to n frames, one at a time while the window
// is positive (a frame may be sent while it is), and returns how many.
func (p *peer) takeCredit(cost int64, n int) int {
	got := 0
	for got < n && p.trySpend(cost) {
		got++
	}
	return got
}

// waitCredit waits up to d for the window to be positive.
func (p *peer) waitCredit(d time.Duration) bool {
	for deadline := time.Now().Add(d); p.credit.Load() <= 0; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) || p.isDead() {
			return false
		}
	}
	return true
}

// channelFlood (point 7): 50,000 streams to Hold, which never ends them,
// within link credit unless ignoreCredit. Then it cancels them all and
// waits for its credit to come back.
func channelFlood(ignoreCredit bool) func(p *peer) error {
	return func(p *peer) error {
		const total, batch = 50_000, 64
		ds := make([]wire.Desc, batch)
		opened, stalled := 0, false
		p.openMu.Lock()
		first := p.nextID
		p.openMu.Unlock()
		start := time.Now()
		for opened < total && time.Since(start) < 8*time.Second && !p.isDead() {
			n := min(batch, total-opened)
			if ignoreCredit {
				p.credit.Add(-wire.DescSize * int64(n))
			} else if n = p.takeCredit(wire.DescSize, n); n == 0 {
				if !p.waitCredit(time.Second) {
					stalled = true
					break
				}
				continue
			}
			p.openMu.Lock()
			for i := range n {
				ds[i] = newDesc(wire.KindOpen, p.nextID, 0)
				ds[i].SetMethod(holdID)
				p.nextID += 2
			}
			err := p.publish(ds[:n]...)
			p.openMu.Unlock()
			if err != nil {
				break
			}
			opened += n
		}
		time.Sleep(300 * time.Millisecond) // the answers
		p.mu.Lock()
		refused := p.resets[plexus.ResourceExhausted]
		p.mu.Unlock()
		// Cancel them all (RESET costs no credit).
		for i := 0; i < opened && !p.isDead(); i += batch {
			n := min(batch, opened-i)
			for j := range n {
				ds[j] = newDesc(wire.KindReset, first+2*uint64(i+j), 0)
				ds[j].SetAux(uint64(plexus.Canceled))
			}
			if p.publish(ds[:n]...) != nil {
				break
			}
		}
		recovered := p.waitCredit(10 * time.Second)
		p.result("p7", map[string]any{"opened": opened, "stalled": stalled, "refused": refused,
			"recovered": recovered, "ms": ms(time.Since(start))})
		return nil
	}
}

// pausedConsumer (point 8): stops reading its ring and sends pings, whose
// PONGs fill it (the other side's control writer then meets a full ring
// for longer than its wait bound). With resume, it reads again after a
// second and checks that a new PING is answered.
func pausedConsumer(resume bool) func(p *peer) error {
	return func(p *peer) error {
		p.quiesce()
		t0 := time.Now()
		limit := 70_000
		if resume {
			limit = p.lay.ringCap[p.rx()] + 256
		}
		pings := 0
		ds := make([]wire.Desc, 64)
		for pings < limit && time.Since(t0) < 8*time.Second && !p.isDead() {
			for i := range ds {
				ds[i] = newDesc(wire.KindPing, 0, 0)
				ds[i].SetAux(uint64(pings + i + 1))
			}
			if err := p.publish(ds...); err != nil {
				break
			}
			pings += len(ds)
		}
		p.phase("armed")
		if !resume {
			p.result("p8", map[string]any{"pings": pings})
			return nil
		}
		time.Sleep(time.Until(t0.Add(time.Second)))
		p.paused.Store(false)
		time.Sleep(300 * time.Millisecond)
		const probe = 0xfeedface
		p.probeAux.Store(probe)
		_ = p.sendBare(wire.KindPing, 0, probe, 0)
		ok := false
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && !ok; time.Sleep(time.Millisecond) {
			ok = p.probeSeen.Load()
		}
		p.result("p8", map[string]any{"pings": pings, "pongAfterResume": ok})
		return nil
	}
}

// stopReading (point 9): stops reading and freeing the other side's slots
// until the host's SIGUSR1 (bounded); with pings, first fills its receive
// ring with the PONGs, so that the other side also waits for ring space.
func stopReading(fillRing bool) func(p *peer) error {
	return func(p *peer) error {
		p.quiesce()
		if fillRing {
			ds := make([]wire.Desc, 64)
			for sent := 0; sent < p.lay.ringCap[p.rx()]+64; sent += len(ds) {
				for i := range ds {
					ds[i] = newDesc(wire.KindPing, 0, 0)
				}
				if err := p.publish(ds...); err != nil {
					return err
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.phase("armed")
		for deadline := time.Now().Add(40 * time.Second); p.paused.Load() && !p.isDead() && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		p.paused.Store(false)
		time.Sleep(200 * time.Millisecond)
		return nil
	}
}

func badKind(p *peer) error { return p.sendBare(0, 0, 0, 0) }

func wrongParityOpen(p *peer) error {
	p.openMu.Lock()
	defer p.openMu.Unlock()
	d := newDesc(wire.KindOpen, p.nextID+1, wire.FlagMsg|wire.FlagEnd)
	d.SetMethod(echoID)
	return p.sendFrame(d, []byte("x"))
}

func badMetadata(p *peer) error {
	_, _, _, err := p.open(echoID, wire.FlagMD|wire.FlagMsg|wire.FlagEnd, []byte{5, 0}, false) // 5 entries, none there
	return err
}

// dataBeyondChannelCredit: 4 KiB messages on a stream whose handler never
// reads, far past the 64 KiB channel window.
func dataBeyondChannelCredit(p *peer) error {
	id, _, _, err := p.open(holdID, 0, nil, false)
	if err != nil {
		return err
	}
	msg := bytes.Repeat([]byte{'d'}, 4096)
	for i := 0; i < 3*chanWindow/len(msg) && !p.isDead(); i++ {
		if err := p.sendFrame(newDesc(wire.KindData, id, wire.FlagMsg), msg); err != nil {
			return nil // the link broke under us
		}
	}
	return nil
}

// pingFlood: 100,000 pings while reading the answers.
func pingFlood(p *peer) error {
	ds := make([]wire.Desc, 64)
	sent := 0
	for t0 := time.Now(); sent < 100_000 && time.Since(t0) < 5*time.Second && !p.isDead(); sent += len(ds) {
		for i := range ds {
			ds[i] = newDesc(wire.KindPing, 0, 0)
			ds[i].SetAux(uint64(sent + i))
		}
		if err := p.publish(ds...); err != nil {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	p.result("pings", map[string]any{"sent": sent, "pongs": p.pongs.Load()})
	return nil
}

// kill9: in the middle of several floods (held streams, unclaimed blobs,
// notifications), the plugin kills itself with SIGKILL.
func kill9(p *peer) error {
	for i := range 300 {
		if !p.spend(wire.DescSize, time.Second) {
			break
		}
		if _, _, _, err := p.open(holdID, 0, nil, false); err != nil {
			return err
		}
		if i < 30 {
			fd, err := newMemfd(4096, true, sealedBlob)
			if err == nil {
				_ = p.sendCtl(ctlMsg(ctlBlob, uint64(1000+i)), fd)
				_ = syscall.Close(fd)
			}
		}
	}
	go func() { _ = notifyFlood(true)(p) }()
	time.Sleep(200 * time.Millisecond)
	return syscall.Kill(os.Getpid(), syscall.SIGKILL)
}
