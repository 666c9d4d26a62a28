package shm

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const memfdName = "plexus-segment"

// requiredSeals fix the size of the segment for its whole life: neither
// side can shrink it under the other's mapping (which would turn reads
// into SIGBUS) or grow it, and nobody can remove the seals.
const requiredSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// Fds are the descriptors that make up a link's segment, in the order they
// are passed to the plugin.
type Fds struct {
	Mem int
	// Bells: data-ready and space-freed per direction, indexed
	// [kind][direction] with kind 0 = data, 1 = space.
	Bells [2][2]int
}

// Segment is one process's handle on a link's shared memory.
type Segment struct {
	m     *mapping
	memfd int
	bells [2][2]*Bell
	cfg   Config
	side  Side
	life  *lifeHold // this side's life word, once held (see HoldLife)
	// filled is closed when the goroutine pre-faulting the large slots
	// has returned (nil if there is none); stopFill ends it early.
	filled    chan struct{}
	fillTimer *time.Timer
	stopFill  atomic.Bool
}

// Create makes a new segment (host side): a sealed, pre-faulted memfd laid
// out per cfg, and four eventfds.
func Create(cfg Config) (*Segment, error) {
	s, finish, err := CreateDeferred(cfg)
	if err != nil {
		return nil, err
	}
	if err := finish(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// CreateDeferred is Create in two steps. It returns at once with the
// segment's descriptors made (Files works: the memfd has its final size
// and seals), and finish does the slow part: allocating and pre-faulting
// every page (about 0.6 ms per MiB on a small machine) and writing the
// header. A host can thus run finish while the plugin process starts, as
// long as the plugin maps the segment only after finish has returned (the
// host's handshake orders that). Nothing else of the segment may be used
// before finish returns nil; if it fails, Close the segment.
func CreateDeferred(cfg Config) (_ *Segment, finish func() error, err error) {
	cfg = cfg.withDefaults()
	l, err := planLayout(&cfg)
	if err != nil {
		return nil, nil, err
	}
	fd, err := unix.MemfdCreate(memfdName, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, nil, fmt.Errorf("shm: memfd_create: %w", err)
	}
	s := &Segment{memfd: fd, cfg: cfg, side: Host}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := unix.Ftruncate(fd, int64(l.TotalSize)); err != nil {
		return nil, nil, fmt.Errorf("shm: ftruncate: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, requiredSeals); err != nil {
		return nil, nil, fmt.Errorf("shm: seal: %w", err)
	}
	for k := range 2 {
		for d := range 2 {
			if s.bells[k][d], err = newBell(); err != nil {
				return nil, nil, fmt.Errorf("shm: eventfd: %w", err)
			}
		}
	}
	finish = func() error {
		// The pages are allocated as prefault touches them (a
		// fallocate first would cost a third more: 1.4 ms of 5.5 for
		// the default segment here).
		mem, err := mapShared(fd, l.TotalSize)
		if err != nil {
			return err
		}
		if err := initMapping(mem, &l, &cfg); err != nil {
			_ = unix.Munmap(mem)
			return err
		}
		// The creator attaches through the same validation as the
		// opener, so the two can never disagree about the layout.
		m, err := attachMapping(mem)
		if err != nil {
			_ = unix.Munmap(mem)
			return err
		}
		m.sideWord32(Host, sidePid).Store(uint32(os.Getpid()))
		s.m = m
		s.prefault()
		return nil
	}
	return s, finish, nil
}

// Open attaches to a segment created by the peer (plugin side) from
// inherited descriptors. It takes ownership of the descriptors, closing
// them on failure. Only cfg's waiting fields are used; the geometry comes
// from the segment header, validated against the file's size.
func Open(fds Fds, cfg Config) (_ *Segment, err error) {
	cfg = cfg.withDefaults()
	s := &Segment{memfd: -1, cfg: cfg, side: Plugin}
	defer func() {
		if err != nil {
			s.Close()
			closeUnadopted(fds, s)
		}
	}()
	if err := checkFdKind(fds.Mem, "/memfd:"+memfdName); err != nil {
		return nil, err
	}
	seals, err := unix.FcntlInt(uintptr(fds.Mem), unix.F_GET_SEALS, 0)
	if err != nil || seals&requiredSeals != requiredSeals {
		return nil, fmt.Errorf("%w: fd %d is not sealed against resizing (seals %#x, err %v)", ErrNotSegment, fds.Mem, seals, err)
	}
	s.memfd = fds.Mem
	var st unix.Stat_t
	if err := unix.Fstat(fds.Mem, &st); err != nil {
		return nil, fmt.Errorf("shm: fstat: %w", err)
	}
	if st.Size < HeaderSize || st.Size > 1<<40 {
		return nil, layoutErr("size", "file of %d bytes cannot hold a segment", st.Size)
	}
	mem, err := mapShared(fds.Mem, int(st.Size))
	if err != nil {
		return nil, err
	}
	if s.m, err = attachMapping(mem); err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	for k := range 2 {
		for d := range 2 {
			if s.bells[k][d], err = openBell(fds.Bells[k][d]); err != nil {
				return nil, err
			}
		}
	}
	s.m.sideWord32(Plugin, sidePid).Store(uint32(os.Getpid()))
	s.prefault()
	return s, nil
}

// closeUnadopted closes the descriptors of fds that a failed Open did not
// hand to a Bell or the Segment.
func closeUnadopted(fds Fds, s *Segment) {
	if s.memfd != fds.Mem {
		_ = unix.Close(fds.Mem)
	}
	for k := range 2 {
		for d := range 2 {
			if s.bells[k][d] == nil {
				_ = unix.Close(fds.Bells[k][d])
			}
		}
	}
}

// mapShared maps the segment; prefault builds its page tables once it is
// validated.
func mapShared(fd, size int) ([]byte, error) {
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shm: mmap %d bytes: %w", size, err)
	}
	return mem, nil
}

// ErrNotSegment reports a descriptor that is not a file plexus made.
var ErrNotSegment = fmt.Errorf("%w: not a plexus segment descriptor", ErrProtocol)

// checkFdKind verifies through /proc that fd refers to the kind of file we
// expect, so that a wrong descriptor number fails with a clear error
// instead of mapping or polling the wrong file.
func checkFdKind(fd int, prefix string) error {
	target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return fmt.Errorf("%w: fd %d: %v", ErrNotSegment, fd, err)
	}
	if !strings.HasPrefix(target, prefix) {
		return fmt.Errorf("%w: fd %d is %q, want %q", ErrNotSegment, fd, target, prefix+"...")
	}
	return nil
}

// Files returns duplicates of the segment's descriptors as files for
// exec.Cmd.ExtraFiles, in Fds order: memfd, data h->p, data p->h, space
// h->p, space p->h. The caller closes them after the child has started.
func (s *Segment) Files() ([]*os.File, error) {
	raw := []int{s.memfd, s.bells[0][0].fd, s.bells[0][1].fd, s.bells[1][0].fd, s.bells[1][1].fd}
	files := make([]*os.File, 0, len(raw))
	for _, fd := range raw {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("shm: dup: %w", err)
		}
		files = append(files, os.NewFile(uintptr(nfd), "plexus-link"))
	}
	return files, nil
}

// FdsFrom returns the Fds for descriptors inherited in Files order starting
// at first (3 for the first of exec.Cmd.ExtraFiles).
func FdsFrom(first int) Fds {
	return Fds{Mem: first, Bells: [2][2]int{{first + 1, first + 2}, {first + 3, first + 4}}}
}

// Close unmaps the segment and closes this process's descriptors. Nothing
// obtained from the segment may be used afterwards.
func (s *Segment) Close() error {
	for k := range 2 {
		for d := range 2 {
			if b := s.bells[k][d]; b != nil {
				_ = b.Close()
			}
		}
	}
	if s.filled != nil {
		s.stopFill.Store(true)
		if s.fillTimer.Stop() {
			close(s.filled) // it never started
		}
		<-s.filled
		s.filled = nil
	}
	if s.life != nil {
		s.life.release()
		s.life = nil
	}
	if s.m != nil {
		_ = unix.Munmap(s.m.mem)
		s.m = nil
	}
	if s.memfd >= 0 {
		_ = unix.Close(s.memfd)
		s.memfd = -1
	}
	return nil
}
