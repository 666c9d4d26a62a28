//go:build linux

package shmlink

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/wire"
)

// rawPeer is a hostile plugin: it attaches to the segment through the
// segment layer (so that it can publish descriptors and allocate slots the
// honest way when it wants to), but it also holds a writable mapping of the
// whole memfd and the raw control socket, so it can write any byte and send
// any message or descriptor.
type rawPeer struct {
	seg *shm.Segment
	ep  *shm.Endpoint
	ctl int    // the plugin's end of the control socket
	mem []byte // the whole segment, writable

	ringOff, ringCap int // plugin->host ring
	poolOff, poolLen int // plugin pool
}

// newRawPeer makes a link whose host end is a Transport (returned) and
// whose plugin end is a rawPeer. Both are closed at cleanup.
func newRawPeer(t testing.TB, scfg shm.Config, cfg Config) (*Transport, *rawPeer) {
	t.Helper()
	l, err := NewLink(scfg)
	require.NoError(t, err)
	defer l.Close()
	var fds [FileCount]int
	for i, f := range l.PluginFiles() {
		fds[i], err = unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		require.NoError(t, err)
	}
	l.ClosePluginFiles()
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fds[0], &st))
	mem, err := unix.Mmap(fds[0], 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	seg, err := shm.Open(shm.Fds{Mem: fds[0], Bells: [2][2]int{{fds[1], fds[2]}, {fds[3], fds[4]}}}, scfg)
	require.NoError(t, err)
	ep, err := seg.Endpoint()
	require.NoError(t, err)
	host, err := l.Transport(cfg)
	require.NoError(t, err)
	le := binary.LittleEndian
	p := &rawPeer{
		seg: seg, ep: ep, ctl: fds[5], mem: mem,
		ringOff: int(le.Uint64(mem[48:])), ringCap: int(le.Uint32(mem[56:])),
		poolOff: int(le.Uint64(mem[80:])), poolLen: int(le.Uint64(mem[88:])),
	}
	t.Cleanup(func() {
		_ = host.Close()
		p.hangUp()
		_ = seg.Close()
		_ = unix.Munmap(mem)
	})
	return host, p
}

// hangUp closes the raw peer's control socket: the host sees it die.
func (p *rawPeer) hangUp() {
	if p.ctl >= 0 {
		_ = unix.Close(p.ctl)
		p.ctl = -1
	}
}

// push publishes descriptors as they are, without any validation.
func (p *rawPeer) push(ds ...wire.Desc) error {
	n, err := p.ep.Send(ds)
	if err == nil && n != len(ds) {
		err = errors.New("ring full")
	}
	return err
}

// sendCtl sends a raw control message with the given descriptors attached.
func (p *rawPeer) sendCtl(msg []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(p.ctl, msg, oob, nil, unix.MSG_DONTWAIT)
}

func blobMsg(id uint64) []byte {
	msg := make([]byte, ctlMsgSize)
	binary.LittleEndian.PutUint32(msg, ctlBlob)
	binary.LittleEndian.PutUint64(msg[8:], id)
	return msg
}

// makeBlob returns a memfd of size bytes holding data, every page
// allocated as an honest sender's are, sealed with seals (0: none).
func makeBlob(t testing.TB, data []byte, size int, seals int) int {
	t.Helper()
	fd := makeSparseBlob(t, data, size, 0)
	if size > 0 {
		require.NoError(t, unix.Fallocate(fd, 0, 0, int64(size)))
	}
	if seals != 0 {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
		require.NoError(t, err)
	}
	return fd
}

// makeSparseBlob is makeBlob without allocating the pages data does not
// fill: a hostile sender's memfd, whose holes the receiver would pay for.
func makeSparseBlob(t testing.TB, data []byte, size int, seals int) int {
	t.Helper()
	fd, err := unix.MemfdCreate("test-blob", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	require.NoError(t, err)
	require.NoError(t, unix.Ftruncate(fd, int64(size)))
	if len(data) > 0 {
		_, err = unix.Pwrite(fd, data, 0)
		require.NoError(t, err)
	}
	if seals != 0 {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
		require.NoError(t, err)
	}
	return fd
}

// blobDesc is a BLOB descriptor for blob id.
func blobDesc(id uint64, off, n uint32) wire.Desc {
	var d wire.Desc
	d.SetKind(2)
	setBlob(&d, id, off, n)
	return d
}
