package inspect

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// TestRender: a client's table has each figure in its form: n/capacity
// for the rings, "size in-use/count" per class, sizes in binary units,
// the uptime rounded, a multi-line error on one line.
func TestRender(t *testing.T) {
	doc := host.InspectDoc{Version: 1, Pid: 42, Time: time.Now(), Clients: []host.ClientStats{{
		Name: "calc", Pid: 4242, Link: "shared memory", State: "running", Version: 2,
		Uptime: 83*time.Second + 400*time.Millisecond, Starts: 3, Restarts: 2, Deaths: 2,
		LastError: "host: plugin calc (pid 4000) ended: signal: killed;\n\tlink: gone",
		Session:   &session.Stats{Channels: 5, CallsOut: 3, CallsIn: 2, FramesReceived: 99},
		SharedMemory: &shmlink.Stats{
			TX: shm.RingUse{Pending: 7, Capacity: 2048}, RX: shm.RingUse{Pending: 0, Capacity: 2048},
			Own:    []shm.ClassUse{{Size: 256, Count: 512, InUse: 3}, {Size: 4096, Count: 128, InUse: 0}},
			Peer:   []shm.ClassUse{{Size: 256, Count: 1024, InUse: 1}, {Size: 1 << 20, Count: 2, InUse: 2}},
			Leases: 1, Held: 4,
			Blobs: shmlink.BlobStats{Pooled: 2, PooledBytes: 3 << 20, WithPeer: 1, Bytes: 5 << 20, Leases: 1,
				PeerMapped: 1, PeerBytes: 1536 << 10, Received: 1, OneShotBytes: 0},
		},
	}, {Name: "idle", Link: "socket", State: "restarting", Starts: 1, Deaths: 1}}}
	var b strings.Builder
	require.NoError(t, Render(&b, &doc))
	want := []string{
		"calc        pid 4242",
		"  state     running, up 1m23s, shared memory, version 2",
		"  restarts  2 (starts 3, deaths 2)",
		"  calls     out 3, in 2; channels 5; frames received 99",
		"  ring      tx 7/2048, rx 0/2048",
		"  slots     own  256B 3/512  4KiB 0/128",
		"            peer 256B 1/1024  1MiB 2/2",
		"  buffers   1 leased, 4 received held",
		"  blobs     own 2 pooled (3MiB), 1 with peer, 1 leased, 5MiB in all; peer's 1 mapped (1.5MiB), 1 received (0B one-shot)",
		"  last error  host: plugin calc (pid 4000) ended: signal: killed; link: gone",
		"idle        no process",
		"  state     restarting, socket",
	}
	out := b.String()
	require.True(t, strings.HasPrefix(out, "host pid 42: 2 live plugin links at "), out)
	for _, w := range want {
		require.Contains(t, strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(w), " "), out)
	}
	require.NotContains(t, out[strings.Index(out, "idle"):], "ring", "no link figures without a link")
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1000: "1000B", 1024: "1KiB", 4096: "4KiB", 1536: "1.5KiB",
		1 << 20: "1MiB", 1536 << 10: "1.5MiB", 256 << 20: "256MiB", 1 << 30: "1GiB", 1 << 40: "1TiB"} {
		require.Equal(t, want, size(n), "%d", n)
	}
}

// fakeHost listens where process pid's endpoint would and answers each
// connection with answer; it stops with the test.
func fakeHost(t *testing.T, pid int, answer string) {
	t.Helper()
	path := host.InspectPath(pid)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { _ = ln.Close(); <-done })
	go func() {
		defer close(done)
		for range 100 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(answer))
			_ = c.Close()
		}
	}()
}

// TestFetch: a document is returned as it came and decoded; a missing
// socket, a stale one, another version, an empty answer and garbage each
// fail saying which.
func TestFetch(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ctx := context.Background()

	fakeHost(t, 1001, `{"version":1,"pid":1001,"clients":[{"name":"x","pid":7}]}`+"\n")
	raw, doc, err := Fetch(ctx, 1001)
	require.NoError(t, err)
	require.Equal(t, `{"version":1,"pid":1001,"clients":[{"name":"x","pid":7}]}`, string(raw))
	require.Equal(t, 1001, doc.Pid)
	require.Len(t, doc.Clients, 1)
	require.Equal(t, 7, doc.Clients[0].Pid)

	_, _, err = Fetch(ctx, 1002)
	require.ErrorContains(t, err, "host.ServeInspect")
	require.ErrorContains(t, err, host.InspectPath(1002))

	// A socket file nobody listens on: a host that died without
	// StopInspect.
	ln, err := net.Listen("unix", host.InspectPath(1003))
	require.NoError(t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
	_, _, err = Fetch(ctx, 1003)
	require.ErrorContains(t, err, "nothing listens")

	fakeHost(t, 1004, `{"version":2,"pid":1004}`)
	_, _, err = Fetch(ctx, 1004)
	require.ErrorContains(t, err, "version 2")

	fakeHost(t, 1005, "")
	_, _, err = Fetch(ctx, 1005)
	require.ErrorContains(t, err, "without an answer")

	fakeHost(t, 1006, "not json")
	_, _, err = Fetch(ctx, 1006)
	require.ErrorContains(t, err, "not JSON")
}
