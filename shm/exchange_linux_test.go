package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/wire"
	"github.com/stretchr/testify/require"
)

// exchangePlan is what each side sends: descs descriptors, every
// descs/slots-th of which carries a slot payload of pseudo-random size; the
// rest carry an inline payload or none. Everything is derived from the
// sequence number so the receiver can check it without shared state.
type exchangePlan struct {
	descs, slots uint64
	maxSize      int
	pauseEvery   uint64 // receiver sleeps briefly every this many descriptors, to force parking
}

func (p exchangePlan) hasSlot(seq uint64) bool { return seq%(p.descs/p.slots) == 0 }

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}

// slotSize is log-uniform in [1, maxSize]: mostly small, some near the
// largest class, so that every class and the fall-through are exercised.
func (p exchangePlan) slotSize(seq uint64) int {
	r := mix(seq ^ 0x5a5a)
	maxBits := bits.Len(uint(p.maxSize))
	n := int(r>>8) & (1<<(1+int(r%uint64(maxBits))) - 1)
	return max(1, min(n, p.maxSize))
}

func fill(b []byte, seed uint64) {
	x := mix(seed) | 1
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	for ; i < len(b); i++ {
		b[i] = byte(x >> (8 * (i & 7)))
	}
}

func sendAll(e *Endpoint, p exchangePlan, dir uint64) error {
	var batch [32]wire.Desc
	var inline [wire.InlineMax]byte
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		sent, err := e.Send(batch[:n])
		if err == nil && sent != n {
			err = fmt.Errorf("sent %d of %d", sent, n)
		}
		if err != nil {
			err = fmt.Errorf("send: %w [%s]", err, e.State())
		}
		n = 0
		return err
	}
	for seq := range p.descs {
		d := &batch[n]
		d.Reset()
		d.SetChannel(seq)
		d.SetMethod(mix(seq ^ dir))
		switch {
		case p.hasSlot(seq):
			// Publish what is batched first: Alloc may wait for the
			// peer to free slots, and the peer may be waiting for these.
			if err := flush(); err != nil {
				return err
			}
			d = &batch[0]
			d.Reset()
			d.SetChannel(seq)
			d.SetMethod(mix(seq ^ dir))
			size := p.slotSize(seq)
			s, err := e.Alloc(size)
			if err != nil {
				return fmt.Errorf("alloc %d bytes at seq %d: %w", size, seq, err)
			}
			fill(s.Buf[:size], seq^dir)
			d.SetSlotRef(s.Index, s.Gen, 0, uint32(size))
			d.SetAux(uint64(crc32.ChecksumIEEE(s.Buf[:size])))
		case seq%3 == 0:
			k := int(seq % (wire.InlineMax + 1))
			fill(inline[:k], seq^dir)
			d.SetInline(inline[:k])
			d.SetAux(uint64(crc32.ChecksumIEEE(inline[:k])))
		}
		n++
		if n == len(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// exchangeTimeout bounds every wait of the exchange. It is generous because
// the test must not flake on a loaded 2-core machine under the race
// detector; a lost wake-up still shows as a failure with both rings' state.
const exchangeTimeout = 30 * time.Second

func recvAll(e *Endpoint, p exchangePlan, dir uint64) (slots uint64, err error) {
	var batch [32]wire.Desc
	want := make([]byte, p.maxSize)
	seq := uint64(0)
	for seq < p.descs {
		n, err := e.Recv(batch[:], exchangeTimeout)
		if err != nil {
			return slots, fmt.Errorf("recv at seq %d: %w [%s]", seq, err, e.State())
		}
		for i := range n {
			d := &batch[i]
			if d.Channel() != seq || d.Method() != mix(seq^dir) {
				return slots, fmt.Errorf("seq %d: got channel %d method %#x", seq, d.Channel(), d.Method())
			}
			payload, err := e.Resolve(d)
			if err != nil {
				return slots, fmt.Errorf("seq %d: %w", seq, err)
			}
			if p.hasSlot(seq) != (d.Flags()&wire.FlagSlot != 0) {
				return slots, fmt.Errorf("seq %d: slot flag %v", seq, d.Flags())
			}
			if p.hasSlot(seq) {
				slots++
				if len(payload) != p.slotSize(seq) {
					return slots, fmt.Errorf("seq %d: slot payload of %d bytes, want %d", seq, len(payload), p.slotSize(seq))
				}
			}
			if len(payload) > 0 {
				if uint64(crc32.ChecksumIEEE(payload)) != d.Aux() {
					return slots, fmt.Errorf("seq %d: checksum mismatch", seq)
				}
				// The checksum travels with the data; also recompute the
				// expected bytes so that a payload and its checksum
				// corrupted together are caught.
				fill(want[:len(payload)], seq^dir)
				if string(want[:len(payload)]) != string(payload) {
					return slots, fmt.Errorf("seq %d: payload differs from what was sent", seq)
				}
			}
			if err := e.Release(d); err != nil {
				return slots, fmt.Errorf("seq %d release: %w", seq, err)
			}
			seq++
			if p.pauseEvery > 0 && seq%p.pauseEvery == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	return slots, nil
}

// exchange runs one side: send plan on our direction while receiving the
// peer's, then wait for the peer to give back every slot of our pool.
func exchange(e *Endpoint, p exchangePlan) error {
	var wg sync.WaitGroup
	var sendErr, recvErr error
	var slots uint64
	me, peer := uint64(e.Side()), uint64(1-e.Side())
	wg.Add(2)
	go func() { defer wg.Done(); sendErr = sendAll(e, p, me) }()
	go func() { defer wg.Done(); slots, recvErr = recvAll(e, p, peer) }()
	wg.Wait()
	if err := errors.Join(sendErr, recvErr); err != nil {
		return err
	}
	if slots != p.slots {
		return fmt.Errorf("received %d slot payloads, want %d", slots, p.slots)
	}
	deadline := time.Now().Add(exchangeTimeout)
	for e.Pool().FreeSlots() != e.Pool().NumSlots() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d slots still held by the peer", e.Pool().NumSlots()-e.Pool().FreeSlots(), e.Pool().NumSlots())
		}
		time.Sleep(time.Millisecond)
	}
	return e.Pool().CheckFreeLists()
}

func planFromArgs() exchangePlan {
	u := func(k string) uint64 { v, _ := strconv.ParseUint(xproc.Arg(k), 10, 64); return v }
	return exchangePlan{descs: u("DESCS"), slots: u("SLOTS"), maxSize: int(u("MAXSIZE")), pauseEvery: u("PAUSE")}
}

func init() {
	xproc.Register("shm-exchange", func() int {
		seg, err := Open(FdsFrom(3), Config{Wait: exchangeTimeout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child open:", err)
			return 1
		}
		defer seg.Close()
		e, err := seg.Endpoint()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child endpoint:", err)
			return 1
		}
		if err := exchange(e, planFromArgs()); err != nil {
			fmt.Fprintln(os.Stderr, "child exchange:", err)
			return 1
		}
		return 0
	})
}

// TestCrossProcessExchange is the acceptance test of the segment: a child
// process and the parent each send descs descriptors (slots of them with
// slot payloads of random sizes) to the other at the same time, verify
// every byte, and end with every slot of both pools free.
func TestCrossProcessExchange(t *testing.T) {
	p := exchangePlan{descs: 10_000_000, slots: 10_000, maxSize: 1 << 20, pauseEvery: 1_000_003}
	if raceEnabled || testing.Short() {
		p = exchangePlan{descs: 500_000, slots: 2_000, maxSize: 1 << 20, pauseEvery: 100_003}
	}
	seg, err := Create(Config{Wait: exchangeTimeout})
	require.NoError(t, err)
	defer seg.Close()
	files, err := seg.Files()
	require.NoError(t, err)
	child := xproc.Start(t, "shm-exchange", files, map[string]string{
		"DESCS": fmt.Sprint(p.descs), "SLOTS": fmt.Sprint(p.slots),
		"MAXSIZE": fmt.Sprint(p.maxSize), "PAUSE": fmt.Sprint(p.pauseEvery),
	})
	for _, f := range files {
		f.Close()
	}
	e, err := seg.Endpoint()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, exchange(e, p))
	require.NoError(t, child.Wait(exchangeTimeout))
	elapsed := time.Since(start)
	t.Logf("exchanged %d descriptors and %d slot payloads each way in %v (%.1f M desc/s per direction)",
		p.descs, p.slots, elapsed, float64(p.descs)/elapsed.Seconds()/1e6)
	require.Equal(t, e.PeerPool().NumSlots(), e.PeerPool().FreeSlots(), "the child's pool is fully free")
	require.NoError(t, e.PeerPool().CheckFreeLists())
}
