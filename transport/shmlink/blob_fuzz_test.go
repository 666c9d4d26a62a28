//go:build linux

package shmlink

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/wire"
)

// FuzzBlobCtl: decodeCtl accepts exactly the well-formed control messages
// (16 bytes, a known type with its number of descriptors, reserved zero,
// a non-zero ID), which re-encode to themselves, and refuses everything
// else as a protocol violation.
func FuzzBlobCtl(f *testing.F) {
	f.Add(ctlMsg(ctlBlob, 1), uint8(1), false)
	f.Add(ctlMsg(ctlBuffer, 7), uint8(1), false)
	f.Add(ctlMsg(ctlFree, 7), uint8(0), false)
	f.Add(ctlMsg(ctlForget, 1<<40), uint8(0), false)
	f.Add(ctlMsg(ctlFree, 7), uint8(1), false)
	f.Add(ctlMsg(ctlBuffer, 0), uint8(1), false)
	f.Add(ctlMsg(ctlBuffer, 3), uint8(1), true)
	f.Add(append(ctlMsg(ctlFree, 2), 0), uint8(0), false)
	f.Fuzz(func(t *testing.T, msg []byte, nfds uint8, trunc bool) {
		flags := 0
		if trunc {
			flags = unix.MSG_CTRUNC
		}
		typ, id, st := decodeCtl(msg, flags, int(nfds), nil)
		if st != nil {
			if st.Code != plexus.ProtocolViolation {
				t.Fatalf("refused with %v, want a protocol violation", st)
			}
			return
		}
		want := 0
		switch typ {
		case ctlBlob, ctlBuffer:
			want = 1
		case ctlFree, ctlForget:
		default:
			t.Fatalf("accepted type %d", typ)
		}
		if trunc || int(nfds) != want || id == 0 || !bytes.Equal(msg, ctlMsg(typ, id)) {
			t.Fatalf("accepted %x with %d descriptors (truncated %v) as type %d ID %d", msg, nfds, trunc, typ, id)
		}
	})
}

// Operations of a FuzzBlobBuffers program, one byte each, then arguments.
const (
	bopAnnounce    = iota // u8 ID step (signed), u8 pages, u8 seal mask: ctlBuffer for a new memfd
	bopFree               // u8 ID: ctlFree
	bopForget             // u8 ID: ctlForget
	bopDesc               // u8 ID, u16 offset, u16 length: a BLOB descriptor
	bopHostSend           // u8 size in KiB: the host sends a blob (copied or through Alloc)
	bopHostRecv           // the host receives a frame and holds it
	bopHostRelease        // the host releases the oldest frame it holds
	bopCount
)

// FuzzBlobBuffers: a raw peer announces, names, frees and forgets blob
// buffers in any order, with any sizes and seals, while the host sends
// blobs of its own, receives and releases. Whatever happens, the host's
// Recv ends with PeerDied or ProtocolViolation once the peer hangs up,
// every frame's payload has its length, and once the host has released
// everything and closed, it holds no memfd or mapping more than before.
func FuzzBlobBuffers(f *testing.F) {
	f.Add([]byte{bopAnnounce, 1, 1, 3, bopDesc, 1, 0, 0, 100, 0, bopHostRecv, bopHostRelease})
	f.Add([]byte{bopHostSend, 2, bopFree, 1, bopFree, 1})
	f.Add([]byte{bopAnnounce, 1, 2, 3, bopDesc, 1, 0, 0, 0, 16, bopHostRecv, bopForget, 1})
	f.Add([]byte{bopAnnounce, 4, 1, 3, bopAnnounce, 0xfe, 1, 3})
	f.Add([]byte{bopHostSend, 1, bopHostSend, 9, bopAnnounce, 9, 1, 1, bopDesc, 9, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		hung := time.AfterFunc(30*time.Second, func() {
			buf := make([]byte, 1<<20)
			panic("FuzzBlobBuffers: input still running after 30 s\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer hung.Stop()
		host, peer := newRawPeer(t, fuzzConfig(), Config{MaxPayload: 1 << 20, BlobCache: 1 << 20})
		linked, err := readUsage()
		if err != nil {
			t.Fatal(err)
		}
		held := runBlobProgram(t, host, peer, &program{b: data})
		peer.hangUp()
		for range 1000 {
			var fr transport.Frame
			err = host.Recv(&fr)
			if err != nil {
				break
			}
			held = append(held, fr)
		}
		if !errors.Is(err, plexus.ErrPeerDied) && !errors.Is(err, plexus.ErrProtocolViolation) {
			t.Fatalf("Recv ended with %v, want PeerDied or ProtocolViolation", err)
		}
		for i := range held {
			if len(held[i].Payload) != int(held[i].Desc.Length()) {
				t.Fatalf("payload of %d bytes, length %d", len(held[i].Payload), held[i].Desc.Length())
			}
		}
		if err := host.Close(); err != nil {
			t.Fatal(err)
		}
		for i := len(held) - 1; i >= 0; i-- {
			host.Release(&held[i])
		}
		if n := host.held.Load(); n != 0 {
			t.Fatalf("%d frames still counted as held", n)
		}
		after, err := readUsage()
		if err != nil {
			t.Fatal(err)
		}
		// Only the raw peer's segment is left: the host's went with its
		// last frame.
		if want := linked.plus(usage{Fds: -1, Maps: -1}); after != want {
			t.Fatalf("memfd usage %+v after Close, want %+v", after, want)
		}
	})
}

// runBlobProgram runs a FuzzBlobBuffers program and returns the frames
// the host received and still holds.
func runBlobProgram(t *testing.T, host *Transport, peer *rawPeer, p *program) []transport.Frame {
	var held []transport.Frame
	id := uint64(0)
	pushed := 0
	for steps := 0; len(p.b) > 0 && steps < 64; steps++ {
		switch p.u8() % bopCount {
		case bopAnnounce:
			step, pages, sealMask := int8(p.u8()), int(p.u8()%64), p.u8()
			id = uint64(int64(id) + int64(step))
			seals := 0
			for i, s := range []int{unix.F_SEAL_SHRINK, unix.F_SEAL_GROW, unix.F_SEAL_WRITE} {
				if sealMask&(1<<i) != 0 {
					seals |= s
				}
			}
			if sealMask&16 != 0 {
				seals |= unix.F_SEAL_FUTURE_WRITE
			}
			size := pages * 4096
			if sealMask&8 != 0 {
				size += 100 // not whole pages
			}
			mk := makeBlob
			if sealMask&32 != 0 {
				mk = makeSparseBlob // pages never written
			}
			fd := mk(t, nil, size, seals)
			_ = peer.sendCtl(ctlMsg(ctlBuffer, id), fd)
			_ = unix.Close(fd)
		case bopFree:
			_ = peer.sendCtl(ctlMsg(ctlFree, uint64(p.u8())))
		case bopForget:
			_ = peer.sendCtl(ctlMsg(ctlForget, uint64(p.u8())))
		case bopDesc:
			d := blobDesc(uint64(p.u8()), uint32(p.u16()), uint32(p.u16()))
			if pushed < peer.ringCap-1 {
				pushed++
				_ = peer.push(d)
			}
		case bopHostSend:
			k := p.u8()
			n := (int(k)%64 + 1) << 10
			if k&0x80 != 0 {
				if b, err := host.Alloc(n); err == nil {
					_ = host.Send(new(wire.Desc), b)
				}
			} else {
				_ = host.Send(new(wire.Desc), make([]byte, n))
			}
		case bopHostRecv:
			if pushed == 0 {
				continue // nothing may come: do not wait
			}
			pushed--
			var fr transport.Frame
			if err := recvWithin(t, host, &fr); err != nil {
				return held
			}
			held = append(held, fr)
		case bopHostRelease:
			if len(held) > 0 {
				host.Release(&held[0])
				held = held[1:]
			}
		}
	}
	return held
}
