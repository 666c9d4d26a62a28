package host_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tinylib/msgp/msgp"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
)

// The Python plugin's service pytest.Streams (python/testdata/echo_plugin.py):
// streams of every shape, notifications both ways, calls back into the
// host, blobs and typed statuses, against the Go host over shared memory.
const pyStreams = "pytest.Streams"

var (
	pyCountID     = plexus.MethodID(pyStreams, "Count")
	pySumID       = plexus.MethodID(pyStreams, "Sum")
	pyEchoID      = plexus.MethodID(pyStreams, "Echo")
	pyForeverID   = plexus.MethodID(pyStreams, "Forever")
	pyWaitID      = plexus.MethodID(pyStreams, "Wait")
	pyCancelledID = plexus.MethodID(pyStreams, "Cancelled")
	pyCrcID       = plexus.MethodID(pyStreams, "Crc")
	pyBigID       = plexus.MethodID(pyStreams, "Big")
	pyFailID      = plexus.MethodID(pyStreams, "Fail")
	pyNoteID      = plexus.MethodID(pyStreams, "Note")
	pyHostCountID = plexus.MethodID(pyStreams, "HostCount")
)

// pyPat is message i of n bytes: byte j is (i + j) mod 256 (pat in the
// Python plugin).
func pyPat(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

// pyStreamsTimeout bounds every test of this file.
const pyStreamsTimeout = 60 * time.Second

func pyStart(t *testing.T, cfg host.Config, buf *logBuf) (*host.Client, context.Context) {
	t.Helper()
	c := start(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			pyDumpLogs(t, buf)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), pyStreamsTimeout)
	t.Cleanup(cancel)
	return c, ctx
}

// pyClose closes the client and requires that the plugin exited 0: no
// protocol violation on either side along the way.
func pyClose(t *testing.T, c *host.Client) {
	t.Helper()
	require.NoError(t, c.Close())
	require.NoError(t, c.ExitErr())
}

func countReq(n, small, large, every int) plexus.Raw {
	b := binary.LittleEndian.AppendUint32(nil, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, uint32(small))
	b = binary.LittleEndian.AppendUint32(b, uint32(large))
	return binary.LittleEndian.AppendUint32(b, uint32(every))
}

// recvCount reads the messages of a Count-shaped stream and checks each.
func recvCount(t *testing.T, st *session.Stream, n, small, large, every int) {
	t.Helper()
	for i := range n {
		var m plexus.Raw
		require.NoError(t, st.Recv(&m), "message %d", i)
		size := small
		if every != 0 && i%every == every-1 {
			size = large
		}
		require.Len(t, m, size, "message %d", i)
		require.True(t, bytes.Equal(pyPat(i, size), m), "message %d differs", i)
	}
	var m plexus.Raw
	require.Equal(t, io.EOF, st.Recv(&m), "the stream ends after %d messages", n)
}

// TestPythonServerStream: 10,000 small messages, then messages of every
// placement (inline, slots, blobs above the largest slot), each checked,
// under the protocol's smallest channel window (64 KiB) and a small
// segment, so that the plugin waits for the host's credit and for slots.
func TestPythonServerStream(t *testing.T) {
	var buf logBuf
	cfg := pyConfig(t, &buf)
	cfg.Segment = shm.Config{RingCapacity: 8,
		HostClasses:   []shm.Class{{Size: 256, Count: 4}, {Size: 64 << 10, Count: 2}, {Size: 1 << 20, Count: 1}},
		PluginClasses: []shm.Class{{Size: 256, Count: 4}, {Size: 64 << 10, Count: 2}, {Size: 1 << 20, Count: 1}}}
	c, ctx := pyStart(t, cfg, &buf)

	for _, tc := range [][4]int{
		{10000, 20, 0, 0},          // inline
		{3000, 300, 5000, 7},       // slots
		{24, 1000, 3 << 20, 4},     // blobs among slots
		{3, 1 << 20, 1<<20 + 1, 2}, // the largest slot, and one byte more
	} {
		st, err := c.NewStream(ctx, pyCountID, countReq(tc[0], tc[1], tc[2], tc[3]), true)
		require.NoError(t, err)
		recvCount(t, st, tc[0], tc[1], tc[2], tc[3])
	}
	pyClose(t, c)
}

// TestPythonClientStream: the plugin reads 10,000 messages and a few
// large ones (slots and blobs, in place) and answers with their count,
// size and CRC-32, sent as one message before its STATUS.
func TestPythonClientStream(t *testing.T) {
	var buf logBuf
	c, ctx := pyStart(t, pyConfig(t, &buf), &buf)

	st, err := c.NewStream(ctx, pySumID, plexus.Raw("args"), false)
	require.NoError(t, err)
	var total uint64
	var crc uint32
	const n = 10000
	for i := range n {
		size := i % 300
		if i%2000 == 1999 {
			size = []int{70 << 10, 2 << 20, 1 << 20, 5 << 20, 300 << 10}[i/2000]
		}
		m := pyPat(i, size)
		total += uint64(size)
		crc = crc32.Update(crc, crc32.IEEETable, m)
		require.NoError(t, st.Send(plexus.Raw(m)), "message %d", i)
	}
	require.NoError(t, st.CloseSend())
	var res plexus.Raw
	require.NoError(t, st.Recv(&res))
	require.Len(t, res, 20)
	require.Equal(t, uint64(n), binary.LittleEndian.Uint64(res), "count")
	require.Equal(t, total, binary.LittleEndian.Uint64(res[8:]), "bytes")
	require.Equal(t, crc, binary.LittleEndian.Uint32(res[16:]), "CRC-32")
	require.Equal(t, io.EOF, st.Recv(&res))
	pyClose(t, c)
}

// TestPythonBidiStream: 10,000 messages echoed while they are sent, with
// credit flowing both ways under 64 KiB windows, the sender running ahead
// of the receiver; then the same with buffered (packed) frames.
func TestPythonBidiStream(t *testing.T) {
	var buf logBuf
	cfg := pyConfig(t, &buf)
	cfg.ChannelWindow = 64 << 10 // the smallest the protocol allows
	cfg.LinkWindow = 1 << 20
	c, ctx := pyStart(t, cfg, &buf)
	for _, buffered := range []bool{false, true} {
		t.Run(fmt.Sprintf("buffered=%v", buffered), func(t *testing.T) {
			st, err := c.NewStream(ctx, pyEchoID, plexus.Raw("args"), false)
			require.NoError(t, err)
			require.NoError(t, st.Buffer(buffered))
			const n = 10000
			size := func(i int) int {
				if i%1000 == 999 {
					return []int{100 << 10, 2 << 20}[(i/1000)%2]
				}
				return i % 200
			}
			sent := make(chan error, 1)
			go func() {
				for i := range n {
					if err := st.Send(plexus.Raw(pyPat(i, size(i)))); err != nil {
						sent <- fmt.Errorf("send %d: %w", i, err)
						return
					}
				}
				sent <- st.CloseSend()
			}()
			for i := range n {
				var m plexus.Raw
				require.NoError(t, st.Recv(&m), "message %d", i)
				require.True(t, bytes.Equal(pyPat(i, size(i)), m), "message %d (%d bytes) differs", i, len(m))
			}
			require.NoError(t, <-sent)
			var m plexus.Raw
			require.Equal(t, io.EOF, st.Recv(&m))
		})
	}
	pyClose(t, c)
}

func pyCancelled(t *testing.T, c *host.Client) []plexus.Code {
	t.Helper()
	var resp plexus.Raw
	require.NoError(t, c.Invoke(context.Background(), pyCancelledID, plexus.Raw("x"), &resp))
	var codes []plexus.Code
	for i := 0; i+4 <= len(resp); i += 4 {
		codes = append(codes, plexus.Code(binary.LittleEndian.Uint32(resp[i:])))
	}
	return codes
}

// TestPythonStreamCancelAndDeadline: the host abandons a server stream
// that would never end (its handler sees CANCELED when it sends), and a
// stream's deadline passes (its handler sees DEADLINE_EXCEEDED, the host
// gets it); the link goes on.
func TestPythonStreamCancelAndDeadline(t *testing.T) {
	var buf logBuf
	c, ctx := pyStart(t, pyConfig(t, &buf), &buf)

	cctx, cancel := context.WithCancel(ctx)
	st, err := c.NewStream(cctx, pyForeverID, plexus.Raw("x"), true)
	require.NoError(t, err)
	for i := range 100 {
		var m plexus.Raw
		require.NoError(t, st.Recv(&m))
		require.True(t, bytes.Equal(pyPat(i, 100), m))
	}
	cancel()
	st.Close()
	require.Eventually(t, func() bool { return len(pyCancelled(t, c)) == 1 }, 10*time.Second, 10*time.Millisecond,
		"the handler saw its cancellation")
	require.Equal(t, []plexus.Code{plexus.Canceled}, pyCancelled(t, c))

	dctx, dcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer dcancel()
	st, err = c.NewStream(dctx, pyWaitID, plexus.Raw("x"), true)
	require.NoError(t, err)
	var m plexus.Raw
	require.NoError(t, st.Recv(&m))
	require.Equal(t, "started", string(m))
	err = st.Recv(&m)
	require.Equal(t, plexus.DeadlineExceeded, plexus.CodeOf(err), "%v", err)
	require.Eventually(t, func() bool { return len(pyCancelled(t, c)) == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, plexus.DeadlineExceeded, pyCancelled(t, c)[1])

	got, err := pyInvoke(ctx, c, echoID, []byte("still linked"))
	require.NoError(t, err)
	require.Equal(t, "still linked", string(got))
	pyClose(t, c)
}

// hostServices is the host's hosttest.Host for the Python plugin: Greet
// (unary), Count (a server stream shaped as the plugin's Count) and Noted
// (a notification, handed to noted).
func hostServices(t *testing.T, noted chan<- []byte, seqs chan<- string) *session.Mux {
	mux := session.NewMux()
	_, err := mux.HandleUnary(cbName, "Greet", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw("hello, " + string(req)), nil
	})
	require.NoError(t, err)
	_, err = mux.HandleStream(cbName, "Count", func(ctx context.Context, st *session.Stream) error {
		var req plexus.Raw
		if err := st.Recv(&req); err != nil {
			return err
		}
		if len(req) != 16 {
			return plexus.Errorf(plexus.InvalidArgument, "request of %d bytes", len(req))
		}
		n, small := int(binary.LittleEndian.Uint32(req)), int(binary.LittleEndian.Uint32(req[4:]))
		large, every := int(binary.LittleEndian.Uint32(req[8:])), int(binary.LittleEndian.Uint32(req[12:]))
		for i := range n {
			size := small
			if every != 0 && i%every == every-1 {
				size = large
			}
			if err := st.Send(plexus.Raw(pyPat(i, size))); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	_, err = mux.HandleNotify(cbName, "Noted", func(ctx context.Context, msg []byte) {
		noted <- bytes.Clone(msg)
		if seqs != nil {
			seqs <- plexus.IncomingMetadata(ctx)["seq"]
		}
	})
	require.NoError(t, err)
	return mux
}

// TestPythonCallsHost: the plugin calls the host's unary Greet and its
// server stream Count (thousands of messages and blobs, the plugin
// granting credit as it reads) from inside its handlers; with its host
// services declared in the handshake, and without.
func TestPythonCallsHost(t *testing.T) {
	for _, declare := range []bool{false, true} {
		t.Run(fmt.Sprintf("declared=%v", declare), func(t *testing.T) {
			var buf logBuf
			var env []string
			if declare {
				env = append(env, "HOSTTEST_DECLARE_HOST=1")
			}
			cfg := pyConfig(t, &buf, env...)
			cfg.HostServices = hostServices(t, make(chan []byte, 1), nil)
			c, ctx := pyStart(t, cfg, &buf)

			var resp plexus.Raw
			require.NoError(t, c.Invoke(ctx, callHostID, plexus.Raw("python"), &resp))
			require.Equal(t, "hello, python", string(resp))

			n, small, large, every := 5000, 50, 2<<20, 1000
			var total uint64
			var crc uint32
			for i := range n {
				size := small
				if i%every == every-1 {
					size = large
				}
				total += uint64(size)
				crc = crc32.Update(crc, crc32.IEEETable, pyPat(i, size))
			}
			require.NoError(t, c.Invoke(ctx, pyHostCountID, countReq(n, small, large, every), &resp))
			require.Len(t, resp, 20)
			require.Equal(t, uint64(n), binary.LittleEndian.Uint64(resp))
			require.Equal(t, total, binary.LittleEndian.Uint64(resp[8:]))
			require.Equal(t, crc, binary.LittleEndian.Uint32(resp[16:]))

			// A host method that fails: its status comes back through the plugin.
			err := c.Invoke(ctx, pyHostCountID, plexus.Raw("short"), &resp)
			require.Equal(t, plexus.InvalidArgument, plexus.CodeOf(err), "%v", err)
			require.Contains(t, err.Error(), "request of 5 bytes")
			pyClose(t, c)
		})
	}
}

// TestPythonNotifications: the host sends 2,000 notifications (with
// metadata, a few in slots and one in a blob); the plugin's handler sends
// each back to the host's Noted, in order, unchanged.
func TestPythonNotifications(t *testing.T) {
	var buf logBuf
	cfg := pyConfig(t, &buf)
	noted := make(chan []byte, 4096)
	seqs := make(chan string, 4096)
	cfg.HostServices = hostServices(t, noted, seqs)
	c, ctx := pyStart(t, cfg, &buf)

	const n = 2000
	size := func(i int) int {
		switch {
		case i == 1000:
			return 3 << 20
		case i%250 == 0:
			return 100 << 10
		}
		return i % 400
	}
	go func() {
		for i := range n {
			mctx := plexus.WithMetadata(ctx, plexus.Metadata{"seq": fmt.Sprint(i)})
			if err := c.Notify(mctx, pyNoteID, plexus.Raw(pyPat(i, size(i)))); err != nil {
				noted <- []byte("notify failed: " + err.Error())
				return
			}
		}
	}()
	for i := range n {
		select {
		case m := <-noted:
			require.True(t, bytes.Equal(pyPat(i, size(i)), m), "notification %d: %d bytes, %.40q", i, len(m), m)
			require.Equal(t, fmt.Sprint(i), <-seqs, "notification %d's metadata", i)
		case <-ctx.Done():
			t.Fatalf("notification %d did not come back", i)
		}
	}
	// A notification of a method the plugin serves as a call is dropped.
	require.NoError(t, c.Notify(ctx, pyCrcID, plexus.Raw("x")))
	got, err := pyInvoke(ctx, c, echoID, []byte("still linked"))
	require.NoError(t, err)
	require.Equal(t, "still linked", string(got))
	require.Empty(t, noted)
	pyClose(t, c)
}

// TestPythonBlobs: a 16 MiB argument is read in place (a read-only view
// of the host's blob) and checksummed by the plugin; results of 16 MiB
// and around the largest slot come back as blobs or slots; a call above
// the largest slot class with concurrent calls keeps the blob buffers in
// use.
func TestPythonBlobs(t *testing.T) {
	var buf logBuf
	c, ctx := pyStart(t, pyConfig(t, &buf), &buf)

	for _, n := range []int{16 << 20, 1 << 20, 1<<20 + 1, 64 << 10, 3} {
		req := pyPattern(n)
		var resp plexus.Raw
		require.NoError(t, c.Invoke(ctx, pyCrcID, plexus.Raw(req), &resp), "%d bytes", n)
		require.Len(t, resp, 13)
		require.Equal(t, crc32.ChecksumIEEE(req), binary.LittleEndian.Uint32(resp), "CRC-32 of %d bytes", n)
		require.Equal(t, uint64(n), binary.LittleEndian.Uint64(resp[4:]))
		if n > 28 {
			require.Equal(t, byte(1), resp[12], "a request of %d bytes is read in place", n)
		}
	}
	for _, n := range []int{16 << 20, 1<<20 + 1, 1 << 20, 5000} {
		var resp plexus.Raw
		require.NoError(t, c.Invoke(ctx, pyBigID, u64(uint64(n)), &resp), "%d bytes", n)
		require.True(t, bytes.Equal(pyPat(0, n), resp), "result of %d bytes (got %d)", n, len(resp))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				req := pyPattern((2 << 20) + g*1000 + i)
				got, err := pyInvoke(ctx, c, echoID, req)
				if err == nil && !bytes.Equal(got, req) {
					err = errors.New("echo of a blob differs")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	pyClose(t, c)
}

// TestPythonTypedErrors: statuses with codes, messages and details, and
// a typed application error, cross as the handler raised them.
func TestPythonTypedErrors(t *testing.T) {
	var buf logBuf
	c, ctx := pyStart(t, pyConfig(t, &buf), &buf)
	fail := func(code plexus.Code, msg string) *plexus.Status {
		req := binary.LittleEndian.AppendUint32(nil, uint32(code))
		var resp plexus.Raw
		err := c.Invoke(ctx, pyFailID, plexus.Raw(append(req, msg...)), &resp)
		var st *plexus.Status
		require.True(t, errors.As(err, &st), "%v", err)
		return st
	}
	for _, code := range []plexus.Code{plexus.NotFound, plexus.InvalidArgument, plexus.PermissionDenied,
		plexus.Unavailable, plexus.Code(1000), plexus.Code(1<<32 - 1)} {
		msg := fmt.Sprintf("failure %d: ünïcode", code)
		st := fail(code, msg)
		require.Equal(t, code, st.Code)
		require.Equal(t, msg, st.Message)
		require.Equal(t, "details:"+msg, string(st.Details))
	}
	st := fail(plexus.ApplicationError, "it went wrong")
	require.Equal(t, plexus.ApplicationError, st.Code)
	require.Equal(t, "it went wrong", st.Message)
	// details: [name, value]
	sz, rest, err := msgp.ReadArrayHeaderBytes(st.Details)
	require.NoError(t, err)
	require.Equal(t, uint32(2), sz)
	name, rest, err := msgp.ReadStringBytes(rest)
	require.NoError(t, err)
	require.Equal(t, "pytest.Oops", name)
	v, rest, err := msgp.ReadMapStrIntfBytes(rest, nil)
	require.NoError(t, err)
	require.Empty(t, rest)
	require.Equal(t, "it went wrong", v["why"])
	require.EqualValues(t, 7, v["n"])

	// A streaming handler's failure ends its stream with the status.
	st2, err := c.NewStream(ctx, pyCountID, plexus.Raw("short"), true)
	require.NoError(t, err)
	var m plexus.Raw
	err = st2.Recv(&m)
	require.Equal(t, plexus.Unknown, plexus.CodeOf(err), "%v", err)
	require.Contains(t, err.Error(), "unpack requires a buffer of 16 bytes")
	pyClose(t, c)
}
