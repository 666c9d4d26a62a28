//go:build linux

package shmlink

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// Operations of a FuzzShmRecv program: each is one byte, followed by its
// arguments; a program that runs out of bytes reads zeros.
const (
	opDesc     = iota // 64 bytes: a descriptor, pushed as it is
	opSlot            // alloc a real slot; u16 offset, u16 length, u8 gen delta: a SLOT descriptor
	opInline          // u8 length: an INLINE descriptor (any length byte)
	opGarbage         // u8 region, u32 offset, u8 n, n bytes: written into the segment
	opBlob            // u8 id, u8 seal mask, u16 size, u16 offset, u16 length: a blob message and descriptor
	opCtl             // u8 n, n bytes, u8 attach: a raw control message
	opBlobDesc        // u8 id, u16 offset, u16 length: a BLOB descriptor alone
	opCount
)

// program reads a fuzz input.
type program struct{ b []byte }

func (p *program) u8() byte {
	if len(p.b) == 0 {
		return 0
	}
	v := p.b[0]
	p.b = p.b[1:]
	return v
}

func (p *program) u16() uint16 { return uint16(p.u8()) | uint16(p.u8())<<8 }
func (p *program) u32() uint32 { return uint32(p.u16()) | uint32(p.u16())<<16 }

func (p *program) bytes(n int) []byte {
	out := make([]byte, n)
	k := copy(out, p.b)
	p.b = p.b[k:]
	return out
}

func fuzzConfig() shm.Config {
	c := hostileConfig()
	c.Wait = 10 * time.Millisecond // a full ring or pool fails fast instead of waiting
	return c
}

// FuzzShmRecv: a raw peer publishes arbitrary descriptors (some referencing
// real slots and blobs), writes garbage into the segment and sends
// arbitrary control messages, then hangs up. The Transport's Recv must only
// return frames whose payload matches their length, and end with PeerDied or
// ProtocolViolation; Release of every frame (in reverse order) and a few
// Sends afterwards must not panic; nothing may hang.
func FuzzShmRecv(f *testing.F) {
	f.Add([]byte{opInline, 5, opInline, 28, opSlot, 0, 0, 100, 0, 0})
	f.Add([]byte{opBlob, 1, 0x0f, 0, 16, 0, 0, 0, 16, opBlobDesc, 1, 0, 0, 0, 1})
	f.Add([]byte{opGarbage, 0, 0, 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{opCtl, 16, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, opBlobDesc, 1, 0, 0, 16, 0})
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, data []byte) {
	// A hang anywhere (not only in Recv) must surface as a crash with
	// every goroutine's stack: the fuzzing engine has no timeout per input.
	hung := time.AfterFunc(30*time.Second, func() {
		buf := make([]byte, 1<<20)
		panic("FuzzShmRecv: input still running after 30 s\n" + string(buf[:runtime.Stack(buf, true)]))
	})
	defer hung.Stop()
	{
		host, peer := newRawPeer(t, fuzzConfig(), Config{MaxPayload: 1 << 20})
		runProgram(t, peer, &program{b: data})
		peer.hangUp()

		var frames []transport.Frame
		var err error
		for range 1000 {
			var fr transport.Frame
			if err = recvWithin(t, host, &fr); err != nil {
				break
			}
			if len(fr.Payload) != int(fr.Desc.Length()) {
				t.Fatalf("payload of %d bytes, length %d", len(fr.Payload), fr.Desc.Length())
			}
			if fr.Desc.Flags()&0x0f != 0 {
				t.Fatalf("transport flags %#x reach the session", fr.Desc.Flags())
			}
			sum := 0
			for _, c := range fr.Payload {
				sum += int(c)
			}
			_ = sum
			frames = append(frames, fr)
		}
		if !errors.Is(err, plexus.ErrPeerDied) && !errors.Is(err, plexus.ErrProtocolViolation) {
			t.Fatalf("Recv ended with %v, want PeerDied or ProtocolViolation", err)
		}
		for i := len(frames) - 1; i >= 0; i-- {
			host.Release(&frames[i])
			host.Release(&frames[i])
		}
		if n := host.held.Load(); n != 0 {
			t.Fatalf("%d frames still counted as held after every Release", n)
		}
		for _, n := range []int{10, 200, 3000} {
			_ = host.Send(new(wire.Desc), make([]byte, n))
		}
		if b, err := host.Alloc(100); err == nil {
			host.Free(b)
		}
		if err := host.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func runProgram(t *testing.T, peer *rawPeer, p *program) {
	pushed := 0
	push := func(d wire.Desc) {
		// The host receives only after the program: stop short of a
		// full ring rather than wait for space.
		if pushed < peer.ringCap-1 {
			pushed++
			_ = peer.push(d)
		}
	}
	for steps := 0; len(p.b) > 0 && steps < 256; steps++ {
		switch p.u8() % opCount {
		case opDesc:
			var d wire.Desc
			copy(d[:], p.bytes(wire.DescSize))
			push(d)
		case opSlot:
			off, n, dg := p.u16(), p.u16(), p.u8()
			s, err := peer.ep.Pool().Alloc(int(n % 4096))
			if err != nil {
				continue
			}
			var d wire.Desc
			d.SetKind(2)
			d.SetSlotRef(s.Index, s.Gen+uint32(dg%4)*2, uint32(off%512), uint32(n))
			push(d)
		case opInline:
			n := p.u8()
			var d wire.Desc
			d.SetInline(p.bytes(int(n % 29)))
			d.SetLength(uint32(n))
			push(d)
		case opGarbage:
			region, off, n := p.u8(), p.u32(), int(p.u8())
			junk := p.bytes(n)
			var base, size int
			switch region % 3 {
			case 0:
				base, size = peer.ringOff, 256+peer.ringCap*wire.DescSize
			case 1:
				base, size = peer.poolOff, peer.poolLen
			default:
				base, size = 0, len(peer.mem)
			}
			start := base + int(off%uint32(size))
			copy(peer.mem[start:min(start+n, base+size)], junk)
		case opBlob:
			id, sealMask, size, off, n := p.u8(), p.u8(), p.u16(), p.u16(), p.u16()
			seals := 0
			for i, s := range []int{unix.F_SEAL_SHRINK, unix.F_SEAL_GROW, unix.F_SEAL_WRITE, unix.F_SEAL_SEAL} {
				if sealMask&(1<<i) != 0 {
					seals |= s
				}
			}
			mk := makeBlob
			if sealMask&16 != 0 {
				mk = makeSparseBlob // pages never written
			}
			fd := mk(t, nil, int(size), seals)
			_ = peer.sendCtl(blobMsg(uint64(id%8)), fd)
			_ = unix.Close(fd)
			push(blobDesc(uint64(id%8), uint32(off), uint32(n)))
		case opCtl:
			n := int(p.u8() % 40)
			msg := p.bytes(n)
			if p.u8()%2 == 1 {
				fd := makeBlob(t, nil, 64, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
				_ = peer.sendCtl(msg, fd)
				_ = unix.Close(fd)
			} else {
				_ = peer.sendCtl(msg)
			}
		case opBlobDesc:
			id, off, n := p.u8(), p.u16(), p.u16()
			d := blobDesc(uint64(id%8), uint32(off), uint32(n))
			binary.LittleEndian.PutUint16(d[10:], 0)
			push(d)
		}
	}
}
