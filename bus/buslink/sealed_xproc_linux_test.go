package buslink_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

// holdEnv makes a "big" plugin subscribe to big.0 .. big.<n-1>, one
// subscription each, and hold every delivery (never Done).
const holdEnv = "BUSLINKTEST_HOLD"

// bigSize is the large messages' size.
const bigSize = 16 << 20

// bigReader subscribes to "big.>" (or, holding, to big.0 .. big.<n-1>)
// and reports each delivery on "got.r.<name>": [crc32 of the data read
// in place, inode of the memfd it lies in (0: none), its length], with
// the delivery's subject as header "subject". It reports after Done,
// holding before nothing (Done releases the data's frame on a goroutine
// of its own, so the release may come moments after the report).
func bigReader(c *buslink.Client) error {
	hold, _ := strconv.Atoi(os.Getenv(holdEnv))
	patterns := []string{"big.>"}
	if hold > 0 {
		patterns = patterns[:0]
		for i := range hold {
			patterns = append(patterns, "big."+strconv.Itoa(i))
		}
	}
	report := "got.r." + os.Getenv(nameEnv)
	for _, p := range patterns {
		s, err := c.Subscribe(context.Background(), p, bus.SubOptions{Buffer: 4})
		if err != nil {
			return err
		}
		go func() {
			ctx := context.Background()
			for {
				d, err := s.Next(ctx)
				if err != nil {
					return
				}
				ino, _ := memfdInode(d.Data)
				rep := binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(d.Data))
				rep = binary.BigEndian.AppendUint64(rep, ino)
				rep = binary.BigEndian.AppendUint64(rep, uint64(len(d.Data)))
				if hold == 0 && d.Done() != nil {
					return
				}
				if _, err := c.Publish(ctx, &bus.Message{Subject: report, Header: plexus.Metadata{"subject": d.Subject}, Data: rep}); err != nil {
					return
				}
			}
		}()
	}
	return nil
}

// bigReport is what a bigReader reported.
type bigReport struct {
	from, subject string
	crc           uint32
	ino, size     uint64
}

func nextReport(t *testing.T, ctx context.Context, s *bus.Subscription) bigReport {
	t.Helper()
	d, err := s.Next(ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, d.Done()) }()
	require.Len(t, d.Data, 20)
	return bigReport{from: strings.TrimPrefix(d.Subject, "got.r."), subject: d.Header["subject"],
		crc: binary.BigEndian.Uint32(d.Data), ino: binary.BigEndian.Uint64(d.Data[4:]), size: binary.BigEndian.Uint64(d.Data[12:])}
}

// memfdInode is the inode of the memfd whose mapping (in this process)
// holds p, from /proc/self/maps.
func memfdInode(p []byte) (uint64, error) {
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p))))
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasPrefix(fields[5], "/memfd:") {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		if addr >= a && addr < b {
			return strconv.ParseUint(fields[4], 10, 64)
		}
	}
	return 0, sc.Err()
}

// memfdHolds counts the mappings (lines of /proc/<pid>/maps) and the
// descriptors (/proc/<pid>/fd) of process pid that are of a memfd whose
// inode is in inos.
func memfdHolds(t *testing.T, pid int, inos []uint64) int {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	maps, err := os.ReadFile(dir + "/maps")
	require.NoError(t, err)
	n := 0
	for line := range strings.SplitSeq(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], "/memfd:") {
			continue
		}
		if ino, _ := strconv.ParseUint(f[4], 10, 64); slices.Contains(inos, ino) {
			n++
		}
	}
	fds, err := filepath.Glob(dir + "/fd/*")
	require.NoError(t, err)
	for _, fd := range fds {
		var st syscall.Stat_t
		if link, _ := os.Readlink(fd); !strings.HasPrefix(link, "/memfd:") || syscall.Stat(fd, &st) != nil {
			continue
		}
		if slices.Contains(inos, st.Ino) {
			n++
		}
	}
	return n
}

// hostBlobs sums the host's ends' blob figures over clients: bytes
// copied into slots and blobs, and blobs sent by reference.
func hostBlobs(clients []*host.Client) (copied, shared int64) {
	for _, c := range clients {
		if sm := c.Stats().SharedMemory; sm != nil {
			copied += sm.Blobs.Copied
			shared += sm.Blobs.Shared
		}
	}
	return copied, shared
}

// sealedMsg is a sealed message of data on subject, the inode of its
// memfd, and a channel closed once the bus has released it.
func sealedMsg(t *testing.T, subject string, data []byte) (*bus.Message, uint64, chan struct{}) {
	t.Helper()
	m, err := buslink.Sealed(data)
	require.NoError(t, err)
	ino, err := memfdInode(m.Data)
	require.NoError(t, err)
	require.NotZero(t, ino, "sealed in a memfd")
	released := make(chan struct{})
	m.Subject, m.Payload = subject, releaseSignal{p: m.Payload, done: released}
	return m, ino, released
}

// startBig starts n "big" plugins, b0 .. b<n-1>, the first with env.
func startBig(t *testing.T, mux *session.Mux, n int, env ...string) ([]*host.Client, []int) {
	clients := make([]*host.Client, n)
	pids := make([]int, n)
	for i := range clients {
		var e []string
		if i == 0 {
			e = env
		}
		clients[i] = startPlugin(t, mux, "big", "b"+strconv.Itoa(i), false, e...)
		pids[i] = clients[i].Pid()
	}
	return clients, pids
}

// TestSealedAcrossProcesses: a 16 MiB message reaches four plugin
// processes over shared memory with one copy in all, twice.
//
// The host publishes it sealed (buslink.Sealed: the copy): every plugin
// reads it in place, in the host's memfd, and the host's links copied
// nothing (shmlink Stats().Blobs over the host's ends).
//
// Then plugin b0 publishes one (Client.Publish seals it: the copy): the
// host reads it in place, b0's memfd, and so do the other plugins (and
// b0's own subscription), the host forwarding it by reference. That the
// memfd is b0's seal is seen in b0's /proc/<pid>/maps while b0 waits in
// Publish (a full Block subscription of the host holds it there): b0's
// transport did not copy it either (its figures are in its own process,
// out of reach; a copy into its blob cache would have been a buffer,
// which the host copies to forward, and the host copied nothing).
func TestSealedAcrossProcesses(t *testing.T) {
	ctx := testCtx(t)
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	defer b.Close()
	reports, err := b.Subscribe(ctx, "got.r.*", bus.SubOptions{Buffer: 64})
	require.NoError(t, err)
	mux := hostMux(t, b)
	clients, pids := startBig(t, mux, 4)
	want := bigData(bigSize)
	wantCRC := crc32.ChecksumIEEE(want)
	copied0, shared0 := hostBlobs(clients)

	// From the host.
	m, ino, released := sealedMsg(t, "big.host", want)
	res, err := b.Publish(ctx, m)
	require.NoError(t, err)
	require.Equal(t, 4, res.Delivered)
	for range 4 {
		r := nextReport(t, ctx, reports)
		require.Equal(t, "big.host", r.subject)
		require.Equal(t, wantCRC, r.crc, "%s read the bytes", r.from)
		require.Equal(t, uint64(bigSize), r.size)
		require.Equal(t, ino, r.ino, "%s read the host's memfd in place", r.from)
	}
	waitClosed(t, ctx, released, "the host's sealed view to be released")
	copied1, shared1 := hostBlobs(clients)
	require.EqualValues(t, 4, shared1-shared0, "sent by reference to each plugin")
	require.Less(t, copied1-copied0, int64(buslink.LargeData), "no large payload copied by the host's links")
	t.Logf("host -> 4 plugins: 1 copy (the seal, %d bytes); the host's links copied %d bytes, shared %d blobs",
		bigSize, copied1-copied0, shared1-shared0)

	// From plugin b0. hold, full, holds b0 in Publish.
	hold, err := b.Subscribe(ctx, "*.b0", bus.SubOptions{Buffer: 1, Overflow: bus.Block})
	require.NoError(t, err)
	_, err = b.Publish(ctx, &bus.Message{Subject: "x.b0", Data: []byte("fill")})
	require.NoError(t, err)
	delivered := make(chan error, 1)
	go func() {
		var resp plexus.Raw
		err := clients[0].Invoke(ctx, publishBigID, plexus.Raw(binary.BigEndian.AppendUint64(nil, bigSize)), &resp)
		if err == nil && binary.BigEndian.Uint64(resp) != 5 {
			err = fmt.Errorf("delivered to %d subscriptions, not 5", binary.BigEndian.Uint64(resp))
		}
		delivered <- err
	}()
	eventually(t, "b0's publish to wait for room on the host", func() bool { return hold.Stats().Waiting == 1 })
	var b0Memfds []uint64
	for _, line := range readLines(t, "/proc/"+strconv.Itoa(pids[0])+"/maps") {
		if f := strings.Fields(line); len(f) >= 6 && strings.HasPrefix(f[5], "/memfd:") {
			ino, _ := strconv.ParseUint(f[4], 10, 64)
			b0Memfds = append(b0Memfds, ino)
		}
	}
	d, err := hold.TryNext()
	require.NoError(t, err)
	require.Equal(t, "x.b0", d.Subject)
	require.NoError(t, d.Done())
	d, err = hold.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, wantCRC, crc32.ChecksumIEEE(d.Data), "the host read the bytes")
	ino, err = memfdInode(d.Data)
	require.NoError(t, err)
	require.NotZero(t, ino, "the host reads a memfd in place")
	require.Contains(t, b0Memfds, ino, "b0's seal")
	require.NoError(t, d.Done())
	require.NoError(t, <-delivered)
	for range 4 {
		r := nextReport(t, ctx, reports)
		require.Equal(t, "big.b0", r.subject)
		require.Equal(t, wantCRC, r.crc, "%s read the bytes", r.from)
		require.Equal(t, ino, r.ino, "%s read b0's memfd in place", r.from)
	}
	copied2, shared2 := hostBlobs(clients)
	require.EqualValues(t, 4, shared2-shared1, "forwarded by reference to each plugin, b0 too")
	require.Less(t, copied2-copied1, int64(buslink.LargeData), "no large payload copied by the host's links")
	t.Logf("b0 -> host + 4 plugin subscriptions: 1 copy (b0's seal, %d bytes, memfd %d); the host's links copied %d bytes, shared %d blobs",
		bigSize, ino, copied2-copied1, shared2-shared1)
}

// TestSealedReclaim: four plugins receive sealed 16 MiB messages; b0
// holds its three (never Done) and is SIGKILLed; the three others go on
// receiving new ones; once everyone has released, no mapping and no
// descriptor of any of those memfds is left in the host or in the living
// plugins (the kernel frees a memfd with its last one), where the holder
// had some before its death.
func TestSealedReclaim(t *testing.T) {
	const held, after = 3, 2
	ctx := testCtx(t)
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	defer b.Close()
	reports, err := b.Subscribe(ctx, "got.r.*", bus.SubOptions{Buffer: 64})
	require.NoError(t, err)
	mux := hostMux(t, b)
	clients, pids := startBig(t, mux, 4, holdEnv+"="+strconv.Itoa(held))
	holder, living := pids[0], pids[1:]

	var inos []uint64
	var releases []chan struct{}
	publish := func(i int) uint32 {
		data := bigData(bigSize - i)
		m, ino, released := sealedMsg(t, "big."+strconv.Itoa(i), data)
		inos, releases = append(inos, ino), append(releases, released)
		_, err := b.Publish(ctx, m)
		require.NoError(t, err)
		return crc32.ChecksumIEEE(data)
	}
	// receive takes n reports of message i, each read right.
	receive := func(i, n int, crc uint32) {
		for range n {
			r := nextReport(t, ctx, reports)
			require.Equal(t, "big."+strconv.Itoa(i), r.subject)
			require.Equal(t, crc, r.crc, "%s read message %d", r.from, i)
			require.Equal(t, inos[i], r.ino, "%s read it in place", r.from)
		}
	}
	for i := range held {
		receive(i, 4, publish(i))
	}
	for _, ch := range releases {
		waitClosed(t, ctx, ch, "the host's sealed views to be released")
	}
	before := memfdHolds(t, holder, inos)
	require.Equal(t, 2*held, before, "the holder maps each message and keeps its descriptor")
	for _, pid := range append([]int{os.Getpid()}, living...) {
		// Done releases in the background: soon after the report.
		eventually(t, "pid "+strconv.Itoa(pid)+" to release them", func() bool { return memfdHolds(t, pid, inos) == 0 })
	}

	require.NoError(t, syscall.Kill(holder, syscall.SIGKILL))
	select {
	case <-clients[0].Exited():
	case <-ctx.Done():
		t.Fatal("the killed plugin's client did not end")
	}
	_, err = os.Stat("/proc/" + strconv.Itoa(holder))
	require.True(t, os.IsNotExist(err), "the holder was reaped")
	for i := held; i < held+after; i++ {
		receive(i, 3, publish(i))
	}
	for _, ch := range releases {
		waitClosed(t, ctx, ch, "the host's sealed views to be released")
	}
	left := 0
	eventually(t, "every mapping and descriptor of the memfds to go", func() bool {
		left = 0
		for _, pid := range append([]int{os.Getpid()}, living...) {
			left += memfdHolds(t, pid, inos)
		}
		return left == 0
	})
	t.Logf("%d sealed messages of 16 MiB: the holder held %d mappings and descriptors of its %d when killed; %d received by the 3 others afterwards; left in the host and the living plugins: %d",
		len(inos), before, held, after, left)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(string(b), "\n")
}
