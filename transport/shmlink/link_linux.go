package shmlink

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/shm"
)

// FileCount is the number of descriptors a plugin inherits for one link,
// in this order: the segment's five (memfd; data h->p, data p->h, space
// h->p, space p->h: shm.Segment.Files order) and then the plugin's end of
// the control socket. Passed as exec.Cmd.ExtraFiles they are 3..8 in the
// child, and OpenInherited(3, ...) opens them.
const FileCount = 6

// Link is the host's side of a link being set up: the segment, the host's
// end of the control socket, and the files to hand to the plugin.
type Link struct {
	seg   *shm.Segment
	ctl   *sockconn.Conn
	files []*os.File

	ready    chan struct{} // closed when the segment is laid out (NewLinkDeferred)
	readyErr error
}

// NewLink creates a segment (shm.Create with scfg) and a control
// socketpair. Give PluginFiles to the plugin (exec.Cmd.ExtraFiles), close
// them with ClosePluginFiles once the plugin has started, and take the
// host's Transport with Transport.
func NewLink(scfg shm.Config) (*Link, error) {
	l, err := NewLinkDeferred(scfg)
	if err != nil {
		return nil, err
	}
	if err := l.Ready(); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// NewLinkDeferred is NewLink that returns before the segment's pages are
// allocated and pre-faulted, which goes on in the background (see
// shm.CreateDeferred): a host starts the plugin meanwhile. The plugin may
// map the segment only after Ready has returned nil, so the host must
// tell it when (its handshake on the control socket does, and the plugin
// opens the segment after the handshake: OpenInheritedWith).
func NewLinkDeferred(scfg shm.Config) (_ *Link, err error) {
	seg, finish, err := shm.CreateDeferred(scfg)
	if err != nil {
		return nil, err
	}
	l := &Link{seg: seg, ready: make(chan struct{})}
	go func() {
		l.readyErr = finish()
		close(l.ready)
	}()
	defer func() {
		if err != nil {
			<-l.ready // finish must not run under a closed segment
			_ = l.Close()
		}
	}()
	if l.files, err = seg.Files(); err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	l.files = append(l.files, os.NewFile(uintptr(fds[1]), "plexus-ctl"))
	if l.ctl, err = sockconn.FromFD(fds[0], "plexus-ctl"); err != nil {
		return nil, err
	}
	return l, nil
}

// controlConn puts fd, the control socket, on the runtime poller (it
// closes fd if that fails) after checking that it is one: a handshake
// runs on it before New takes it over.
func controlConn(fd int) (*sockconn.Conn, error) {
	c, err := sockconn.FromFD(fd, "plexus-ctl")
	if err != nil {
		return nil, err
	}
	rc, _ := c.SyscallConn()
	if err := checkSeqpacket(rc); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// PluginFiles returns the FileCount files the plugin inherits, in the
// documented order. They stay owned by the Link.
func (l *Link) PluginFiles() []*os.File { return l.files }

// ClosePluginFiles closes this process's copies of the plugin's files.
// Call it once the plugin has started: until the host's copy of the
// plugin's control socket end is closed, the host cannot see the plugin
// die.
func (l *Link) ClosePluginFiles() {
	for _, f := range l.files {
		_ = f.Close()
	}
	l.files = nil
}

// Control returns the host's end of the control socket so that a
// handshake can run on it before the transport takes it over. It is valid
// until Transport or Close is called; the caller must not close it, keep
// it, or leave a read or write pending on it.
func (l *Link) Control() *sockconn.Conn { return l.ctl }

// Transport returns the host's Transport, which takes over the segment and
// the control socket. It may be called once.
func (l *Link) Transport(cfg Config) (*Transport, error) {
	if l.seg == nil {
		return nil, errors.New("transport/shmlink: the link's transport was already taken")
	}
	if err := l.Ready(); err != nil {
		return nil, err
	}
	seg, ctl := l.seg, l.ctl
	l.seg, l.ctl = nil, nil
	return New(seg, ctl, cfg)
}

// Ready waits until the segment is laid out and reports whether that
// worked.
func (l *Link) Ready() error {
	<-l.ready
	return l.readyErr
}

// Close releases whatever the Link still owns (plugin files, and the
// segment and socket if Transport was not called). It waits for the
// segment's layout to finish first.
func (l *Link) Close() error {
	<-l.ready
	l.ClosePluginFiles()
	if l.seg != nil {
		_ = l.seg.Close()
		l.seg = nil
	}
	if l.ctl != nil {
		_ = l.ctl.Close()
		l.ctl = nil
	}
	return nil
}

// OpenInherited opens the plugin's side of a link from the FileCount
// descriptors inherited from first on (3 for exec.Cmd.ExtraFiles). Only
// scfg's waiting fields are used: the geometry comes from the segment. It
// takes ownership of the descriptors, closing them if it fails, and marks
// them close-on-exec so that the plugin's own children do not inherit the
// link.
func OpenInherited(first int, scfg shm.Config, cfg Config) (*Transport, error) {
	var fds [FileCount]int
	for i := range fds {
		fds[i] = first + i
	}
	return openFds(fds, scfg, cfg)
}

// OpenInheritedWith is OpenInherited with a handshake: handshake runs on
// the control socket first and returns the transport Config to use (the
// limits it agreed with the host); the segment is mapped after it returns
// (so that a host using NewLinkDeferred can finish laying it out
// meanwhile), and the transport takes the socket over then. If it fails, everything is
// closed (the host then sees the control socket close) and its error is
// returned. handshake must not keep the socket.
func OpenInheritedWith(first int, scfg shm.Config, handshake func(ctl *sockconn.Conn) (Config, error)) (*Transport, error) {
	var fds [FileCount]int
	for i := range fds {
		fds[i] = first + i
	}
	return openFdsWith(fds, scfg, handshake)
}

func openFds(fds [FileCount]int, scfg shm.Config, cfg Config) (*Transport, error) {
	return openFdsWith(fds, scfg, func(*sockconn.Conn) (Config, error) { return cfg, nil })
}

func openFdsWith(fds [FileCount]int, scfg shm.Config, handshake func(ctl *sockconn.Conn) (Config, error)) (*Transport, error) {
	for _, fd := range fds {
		unix.CloseOnExec(fd)
	}
	ctlFd := fds[FileCount-1]
	segFds := shm.Fds{Mem: fds[0], Bells: [2][2]int{{fds[1], fds[2]}, {fds[3], fds[4]}}}
	closeSeg := func() {
		for _, fd := range fds[:FileCount-1] {
			_ = unix.Close(fd)
		}
	}
	ctl, err := controlConn(ctlFd)
	if err != nil {
		closeSeg()
		return nil, err
	}
	// The handshake comes first: a host may still be laying the segment
	// out until it has sent its part (NewLinkDeferred).
	cfg, err := handshake(ctl)
	if err != nil {
		_ = ctl.Close()
		closeSeg()
		return nil, err
	}
	seg, err := shm.Open(segFds, scfg) // closes segFds if it fails
	if err != nil {
		_ = ctl.Close()
		return nil, err
	}
	return New(seg, ctl, cfg) // checks that ctl is SOCK_SEQPACKET
}

// Pair returns both ends of a link in this process: the host's over a new
// segment and the plugin's over duplicates of the files a plugin would
// inherit, opened through the same path as OpenInherited. It is for tests
// and benchmarks.
func Pair(scfg shm.Config, cfg Config) (host, plugin *Transport, err error) {
	l, err := NewLink(scfg)
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	var fds [FileCount]int
	for i, f := range l.PluginFiles() {
		rc, err := f.SyscallConn()
		if err == nil {
			cerr := rc.Control(func(fd uintptr) {
				fds[i], err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
			})
			err = errors.Join(err, cerr)
		}
		if err != nil {
			for _, fd := range fds[:i] {
				_ = unix.Close(fd)
			}
			return nil, nil, fmt.Errorf("transport/shmlink: dup: %w", err)
		}
	}
	l.ClosePluginFiles()
	if plugin, err = openFds(fds, scfg, cfg); err != nil {
		return nil, nil, err
	}
	if host, err = l.Transport(cfg); err != nil {
		_ = plugin.Close()
		return nil, nil, err
	}
	return host, plugin, nil
}
