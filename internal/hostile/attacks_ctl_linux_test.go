package hostile

import (
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/wire"
)

// Attacks through the control socket: garbage, descriptors of every type,
// short and sparse memfds, descriptor floods.

func ctlAttacks() []*pluginAttackDef {
	return []*pluginAttackDef{
		{Name: "Ctl_Garbage", Plugin: ctlGarbage},
		{Name: "Ctl_WrongSize", Plugin: ctlWrongSize},
		// An empty datagram reads like the end of file on SOCK_SEQPACKET.
		{Name: "Ctl_EmptyDatagram", Plugin: ctlEmpty, Codes: []plexus.Code{plexus.ProtocolViolation, plexus.PeerDied}},
		{Name: "Ctl_FreeUnknownBuffer", Plugin: ctlFreeUnknown},
		{Name: "Ctl_BlobPipe", Plugin: blobOfKind("pipe")},
		{Name: "Ctl_BlobSocket", Plugin: blobOfKind("socket")},
		{Name: "Ctl_BlobEventfd", Plugin: blobOfKind("eventfd")},
		{Name: "Ctl_BlobRegularFile", Plugin: blobOfKind("file")},
		{Name: "Ctl_BlobUnsealedMemfd", Plugin: blobOfKind("unsealed")},
		{Name: "Ctl_BlobShortMemfd", Plugin: blobOfKind("short")},
		{Name: "Ctl_BlobManyDescriptors", Plugin: blobManyFds},
		{Name: "Ctl_BufferPipe", Plugin: bufferPipe},
	}
}

const (
	sealedBlob   = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
	sealedBuffer = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_SEAL
)

// newMemfd makes a memfd of size bytes, written through (every page
// allocated) if write, else sparse (ftruncate only), sealed with seals.
func newMemfd(size int, write bool, seals int) (int, error) {
	fd, err := unix.MemfdCreate("plexus-blob", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, err
	}
	fail := func(err error) (int, error) {
		_ = unix.Close(fd)
		return -1, err
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fail(err)
	}
	if write {
		chunk := make([]byte, min(size, 64<<10))
		for i := range chunk {
			chunk[i] = byte(i)
		}
		for off := 0; off < size; off += len(chunk) {
			if _, err := unix.Pwrite(fd, chunk[:min(len(chunk), size-off)], int64(off)); err != nil {
				return fail(err)
			}
		}
	}
	if seals != 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			return fail(err)
		}
	}
	return fd, nil
}

// sendBlob announces fds as one-shot blob id and sends a notification to
// Slow whose payload is n bytes of it.
func (p *peer) sendBlob(id uint64, n uint32, fds ...int) error {
	if err := p.sendCtl(ctlMsg(ctlBlob, id), fds...); err != nil {
		return err
	}
	d := blobDesc(wire.KindNotify, 0, wire.FlagMsg, id, 0, n)
	d.SetMethod(slowID)
	return p.publish(d)
}

func ctlGarbage(p *peer) error {
	msg := ctlMsg(0x7777, 0x0123456789abcdef)
	msg[5] = 0x42
	return p.sendCtl(msg)
}

func ctlWrongSize(p *peer) error { return p.sendCtl(append(ctlMsg(ctlFree, 5), 0)) }

func ctlEmpty(p *peer) error { return p.sendCtl([]byte{}) }

func ctlFreeUnknown(p *peer) error { return p.sendCtl(ctlMsg(ctlFree, 99)) }

// blobOfKind sends a descriptor that is not what a blob must be, and a
// BLOB frame naming it.
func blobOfKind(kind string) func(p *peer) error {
	return func(p *peer) error {
		var fd int
		var err error
		n := uint32(4096)
		switch kind {
		case "pipe":
			var fds [2]int
			if err = unix.Pipe2(fds[:], unix.O_CLOEXEC); err == nil {
				fd = fds[0]
				p.keep(fds[1])
			}
		case "socket":
			var fds [2]int
			if fds, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err == nil {
				fd = fds[0]
				p.keep(fds[1])
			}
		case "eventfd":
			fd, err = unix.Eventfd(0, unix.EFD_CLOEXEC)
		case "file":
			var f *os.File
			if f, err = os.CreateTemp("", "hostile-*"); err == nil {
				_ = os.Remove(f.Name())
				if _, err = f.Write(make([]byte, 8192)); err == nil {
					fd, err = unix.Dup(int(f.Fd()))
				}
				f.Close()
			}
		case "unsealed":
			fd, err = newMemfd(8192, true, 0)
		case "short":
			fd, err = newMemfd(100, true, sealedBlob)
		}
		if err != nil {
			return err
		}
		p.keep(fd)
		return p.sendBlob(1, n, fd)
	}
}

// blobManyFds attaches eight sealed memfds to one blob message.
func blobManyFds(p *peer) error {
	var fds []int
	for range 8 {
		fd, err := newMemfd(4096, true, sealedBlob)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
		p.keep(fd)
	}
	return p.sendBlob(1, 4096, fds...)
}

// bufferPipe announces a pipe as a blob buffer.
func bufferPipe(p *peer) error {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return err
	}
	p.keep(fds[0])
	p.keep(fds[1])
	return p.sendCtl(ctlMsg(ctlBuffer, 1), fds[0])
}

// sparseBlob (point 5): a sealed 256 MiB memfd that was only ftruncate'd,
// sent as a one-shot blob with a frame naming all of it. Its descriptor
// stays open here, so whatever the receiver allocates for it stays
// allocated.
func sparseBlob(p *peer) error {
	fd, err := newMemfd(256<<20, false, sealedBlob)
	if err != nil {
		return err
	}
	p.keep(fd)
	if err := p.sendBlob(1, 256<<20, fd); err != nil {
		return err
	}
	p.watchAllocation(time.Second, fd)
	return nil
}

// sparseBuffer (point 5): a 256 MiB blob buffer, never written.
func sparseBuffer(p *peer) error {
	fd, err := newMemfd(256<<20, false, sealedBuffer)
	if err != nil {
		return err
	}
	p.keep(fd)
	if err := p.sendCtl(ctlMsg(ctlBuffer, 1), fd); err != nil {
		return err
	}
	p.watchAllocation(time.Second, fd)
	return nil
}

// announceForget (point 5): sparse 64 MiB buffers announced and forgotten
// one after another, each within the receiver's bound on its own.
func announceForget(p *peer) error {
	var fds []int
	for id := uint64(1); id <= 8 && !p.isDead(); id++ {
		fd, err := newMemfd(64<<20, false, sealedBuffer)
		if err != nil {
			return err
		}
		p.keep(fd)
		fds = append(fds, fd)
		if err := p.sendCtl(ctlMsg(ctlBuffer, id), fd); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
		if err := p.sendCtl(ctlMsg(ctlForget, id)); err != nil {
			break
		}
	}
	p.watchAllocation(500*time.Millisecond, fds...)
	return nil
}

// watchAllocation watches, for d, how much of the memfds fds (which this
// side never wrote) has been allocated: only the other side's mapping can
// have done it. It reports the most it saw as "p5" as soon as that passes
// a MiB (the other side may kill this process a moment later), and at the
// end.
func (p *peer) watchAllocation(d time.Duration, fds ...int) {
	var most int64
	told := false
	for t0 := time.Now(); time.Since(t0) < d; time.Sleep(2 * time.Millisecond) {
		var kb int64
		for _, fd := range fds {
			var st unix.Stat_t
			if unix.Fstat(fd, &st) == nil {
				kb += st.Blocks / 2 // 512-byte blocks
			}
		}
		if kb > most {
			most = kb
			if most > 1<<10 && !told {
				told = true
				p.result("p5", map[string]any{"allocatedKB": most})
			}
		}
	}
	p.result("p5", map[string]any{"allocatedKB": most})
}

// blobFlood (point 10): valid one-shot blob messages, a small sealed and
// written memfd each, never named by a frame.
func blobFlood(p *peer) error {
	sent := 0
	for id := uint64(1); id <= 300 && !p.isDead(); id++ {
		fd, err := newMemfd(4096, true, sealedBlob)
		if err != nil {
			return err
		}
		err = p.sendCtl(ctlMsg(ctlBlob, id), fd)
		_ = unix.Close(fd)
		if err != nil {
			break
		}
		sent++
	}
	p.result("p10", map[string]any{"sent": sent})
	time.Sleep(time.Second)
	return nil
}
