package hostile

import (
	"encoding/binary"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw access to the segment (SPEC.md "Segment", "Ring", "Slot pool"),
// through the peer's own writable mapping. Offsets come from the layout
// read at open.

func (p *peer) word64(off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&p.mem[off])) }
func (p *peer) word32(off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&p.mem[off])) }

// Ring header words of direction d.
func (p *peer) ringTail(d int) *atomic.Uint64    { return p.word64(p.lay.ringOff[d]) }
func (p *peer) ringHead(d int) *atomic.Uint64    { return p.word64(p.lay.ringOff[d] + 64) }
func (p *peer) ringParked(d int) *atomic.Uint32  { return p.word32(p.lay.ringOff[d] + 128) }
func (p *peer) ringWaiting(d int) *atomic.Uint32 { return p.word32(p.lay.ringOff[d] + 192) }

// Pool words of the pool of direction d (0: the host's, 1: the plugin's).
func (p *peer) poolWaiting(d int) *atomic.Uint32 { return p.word32(p.lay.poolOff[d] + 64) }
func (p *peer) classHead(d, c int) *atomic.Uint64 {
	return p.word64(p.lay.poolOff[d] + 128 + 64*c)
}
func (p *peer) slotGen(d, i int) *atomic.Uint32  { return p.word32(p.lay.table[d] + 8*i) }
func (p *peer) slotNext(d, i int) *atomic.Uint32 { return p.word32(p.lay.table[d] + 8*i + 4) }

// Doorbell directions: the data bell of direction d wakes that direction's
// consumer; the space bell wakes its producer.
const (
	bellData  = 0
	bellSpace = 1
)

// ring adds v to a doorbell's counter. A blocking write: the caller makes
// sure it cannot block (or runs it where it may).
func (p *peer) ring(kind, d int, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	for {
		_, err := unix.Write(p.bells[kind][d], b[:])
		if err != unix.EINTR {
			return err
		}
	}
}

// drainBell takes whatever the counter holds without blocking.
func (p *peer) drainBell(kind, d int) {
	fds := []unix.PollFd{{Fd: int32(p.bells[kind][d]), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 0); err == nil && n == 1 {
		var b [8]byte
		_, _ = unix.Read(p.bells[kind][d], b[:])
	}
}

// saturate writes 0xfffffffffffffffe into a doorbell: its counter is then
// at the maximum, so that the next write of 1 blocks (or fails with
// EAGAIN on a non-blocking descriptor). The counter must be 0 for the
// write not to block: it is drained first, and the write runs in its own
// goroutine so that a ring by the other side in between cannot hang the
// attack (it reports whether the write finished within a second).
func (p *peer) saturate(kind, d int) bool {
	for range 100 {
		p.drainBell(kind, d)
		done := make(chan error, 1)
		go func() { done <- p.ring(kind, d, 0xfffffffffffffffe) }()
		select {
		case err := <-done:
			if err == nil {
				return true
			}
			if err != unix.EAGAIN {
				return false
			}
		case <-time.After(time.Second):
			return false
		}
	}
	return false
}

// setBlocking clears (or sets) O_NONBLOCK on a doorbell: the flag belongs
// to the open file, which both processes share.
func (p *peer) setBlocking(kind, d int, blocking bool) error {
	fd := uintptr(p.bells[kind][d])
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if blocking {
		fl &^= unix.O_NONBLOCK
	} else {
		fl |= unix.O_NONBLOCK
	}
	_, err = unix.FcntlInt(fd, unix.F_SETFL, fl)
	return err
}

// quiesce pauses the pump and waits until it is out of Recv, so that raw
// writes into the rings do not race with it.
func (p *peer) quiesce() {
	p.paused.Store(true)
	time.Sleep(40 * time.Millisecond)
}
