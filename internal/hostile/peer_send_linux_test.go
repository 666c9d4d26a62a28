package hostile

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plexus-ipc/plexus/wire"
	"golang.org/x/sys/unix"
)

// Sending by hand: frames within or without link credit, calls, raw
// control messages.

func newDesc(kind wire.Kind, channel uint64, flags uint8) wire.Desc {
	var d wire.Desc
	d.SetKind(kind)
	d.SetChannel(channel)
	d.SetFlags(flags)
	return d
}

// publish puts descriptors into the ring as they are.
func (p *peer) publish(ds ...wire.Desc) error {
	n, err := p.ep.Send(ds)
	if err == nil && n != len(ds) {
		err = errors.New("ring full")
	}
	return err
}

// sendBare sends a frame without payload.
func (p *peer) sendBare(kind wire.Kind, channel, aux uint64, credit uint32) error {
	d := newDesc(kind, channel, 0)
	d.SetAux(aux)
	d.SetCredit(credit)
	return p.publish(d)
}

// sendFrame sends d with payload inline or in a slot of our pool.
func (p *peer) sendFrame(d wire.Desc, payload []byte) error {
	if len(payload) > wire.InlineMax {
		_, err := p.sendSlot(d, payload)
		return err
	}
	if len(payload) > 0 {
		d.SetInline(payload)
	}
	return p.publish(d)
}

// sendSlot sends d with payload in a slot of our pool and returns the
// slot's bytes, which stay writable by us: the other side reads them where
// they lie.
func (p *peer) sendSlot(d wire.Desc, payload []byte) ([]byte, error) {
	s, err := p.ep.Alloc(len(payload))
	if err != nil {
		return nil, err
	}
	buf := s.Buf[:len(payload):len(payload)]
	copy(buf, payload)
	d.SetSlotRef(s.Index, s.Gen, 0, uint32(len(payload)))
	return buf, p.publish(d)
}

// spend takes cost from our link window, first waiting up to wait for it
// to be positive (the other side's grants). It reports false if it was
// not.
func (p *peer) spend(cost int64, wait time.Duration) bool {
	for deadline := time.Now().Add(wait); !p.trySpend(cost); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) || p.isDead() {
			return false
		}
	}
	return true
}

// trySpend takes cost from the window if it is positive.
func (p *peer) trySpend(cost int64) bool {
	for {
		c := p.credit.Load()
		if c <= 0 {
			return false
		}
		if p.credit.CompareAndSwap(c, c-cost) {
			return true
		}
	}
}

// open opens a channel of ours: an OPEN frame with flags and payload (in a
// slot if inSlot, whose bytes are then returned). The returned channel
// receives the call's STATUS or RESET.
func (p *peer) open(method uint64, flags uint8, payload []byte, inSlot bool) (uint64, <-chan outcome, []byte, error) {
	p.openMu.Lock()
	defer p.openMu.Unlock()
	id := p.nextID
	p.nextID += 2
	res := make(chan outcome, 1)
	p.mu.Lock()
	p.calls[id] = res
	p.mu.Unlock()
	d := newDesc(wire.KindOpen, id, flags)
	d.SetMethod(method)
	var buf []byte
	var err error
	if inSlot {
		buf, err = p.sendSlot(d, payload)
	} else {
		err = p.sendFrame(d, payload)
	}
	if err != nil {
		p.mu.Lock()
		delete(p.calls, id)
		p.mu.Unlock()
	}
	return id, res, buf, err
}

// call makes a unary call within timeout, respecting link credit.
func (p *peer) call(method uint64, payload []byte, timeout time.Duration) (outcome, error) {
	if !p.spend(int64(len(payload)+wire.DescSize), timeout) {
		return outcome{}, errors.New("no link credit")
	}
	_, res, _, err := p.open(method, wire.FlagMsg|wire.FlagEnd, payload, false)
	if err != nil {
		return outcome{}, err
	}
	return p.wait(res, timeout)
}

func (p *peer) wait(res <-chan outcome, timeout time.Duration) (outcome, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case o := <-res:
		return o, nil
	case <-p.dead:
		return outcome{}, errors.New("link ended: " + p.deadWhy())
	case <-t.C:
		return outcome{}, fmt.Errorf("no answer within %v", timeout)
	}
}

// sendCtl sends a raw control message with descriptors attached, retrying
// (bounded) while the socket is full.
func (p *peer) sendCtl(msg []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		err := unix.Sendmsg(p.ctl, msg, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if err != unix.EAGAIN || time.Now().After(deadline) || p.isDead() {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

func ctlMsg(typ uint32, id uint64) []byte {
	msg := make([]byte, 16)
	binary.LittleEndian.PutUint32(msg, typ)
	binary.LittleEndian.PutUint64(msg[8:], id)
	return msg
}

// blobDesc is a BLOB descriptor of kind for blob id.
func blobDesc(kind wire.Kind, channel uint64, flags uint8, id uint64, off, n uint32) wire.Desc {
	d := newDesc(kind, channel, flags|wire.FlagBlob)
	binary.LittleEndian.PutUint32(d[32:], n)
	binary.LittleEndian.PutUint32(d[36:], uint32(id))
	binary.LittleEndian.PutUint32(d[40:], uint32(id>>32))
	binary.LittleEndian.PutUint32(d[44:], off)
	return d
}

// stats is what the peer saw, for the report.
func (p *peer) stats() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	resets := map[string]int{}
	for c, n := range p.resets {
		resets[c.String()] = n
	}
	statuses := map[string]int{}
	for c, n := range p.statuses {
		statuses[c.String()] = n
	}
	return map[string]any{"resets": resets, "statuses": statuses, "linkReset": p.linkReset,
		"pongs": p.pongs.Load(), "served": p.served.Load(), "badIn": p.badIn.Load(), "dead": p.deadWhy()}
}

func jsonLine(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", err.Error())
	}
	return string(b)
}
