//go:build linux

package shmlink

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
	"github.com/plexus-ipc/plexus/wire"
)

func init() { xproc.Register("shm-blob-echo", blobEchoChild) }

// A blob frame of these tests carries pattern(n, seed) with the seed in
// Aux; the echo answers with pattern(n, seed+1) written into a buffer from
// Alloc.

// blobEchoChild checks every blob, releases it, and answers with another
// of the same size written in place. On kindStop it reports in Aux its
// buffers created (bits 0-15), reused (16-31), and 1<<32 if its memfds are
// not exactly the segment plus its blob buffers. When the link ends it
// closes its end and checks that no memfd is left (exit code 1 if any).
func blobEchoChild() int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "blob echo: "+format+"\n", args...)
		return 1
	}
	tr, err := OpenInherited(3, shm.Config{Wait: 30 * time.Second}, Config{})
	if err != nil {
		return fail("open: %v", err)
	}
	var f transport.Frame
	for {
		if err := tr.Recv(&f); err != nil {
			if !errors.Is(err, plexus.ErrPeerDied) {
				return fail("recv: %v", err)
			}
			break
		}
		var d wire.Desc
		if f.Desc.Kind() == kindStop {
			tr.Release(&f)
			st := &tr.blob.stats
			aux := uint64(st.created.Load()) | uint64(st.reused.Load())<<16
			u, err := readUsage()
			if want := (usage{Fds: 1, Maps: 1}).plus(tr.blobUsage()); err != nil || u != want {
				fmt.Fprintf(os.Stderr, "blob echo: memfd usage %+v (%v), want %+v\n", u, err, want)
				aux |= 1 << 32
			}
			d.SetKind(kindStop)
			d.SetAux(aux)
			if err := tr.Send(&d, nil); err != nil {
				return fail("report: %v", err)
			}
			continue
		}
		n, seed := len(f.Payload), byte(f.Desc.Aux())
		if !bytes.Equal(f.Payload, pattern(n, seed)) {
			return fail("blob of %d bytes differs", n)
		}
		tr.Release(&f)
		buf, err := tr.Alloc(n)
		if err != nil {
			return fail("alloc: %v", err)
		}
		copy(buf, pattern(n, seed+1))
		d.SetKind(kindData)
		d.SetAux(uint64(seed + 1))
		if err := tr.Send(&d, buf); err != nil {
			return fail("echo: %v", err)
		}
	}
	if err := tr.Close(); err != nil {
		return fail("close: %v", err)
	}
	if u, err := readUsage(); err != nil || u != (usage{}) {
		return fail("after Close: memfd usage %+v (%v), want none", u, err)
	}
	return 0
}

// TestCrossProcessBlobRecycled: large blobs to a child process and back,
// copied and written in place, each way reuse the one buffer the first
// created (counted on both sides; neither process gains a memfd or a
// mapping after the first round trip); the child's buffers and mappings
// are all it holds besides the segment. Then the link ends by Close (the
// child checks it has nothing left) or by SIGKILL of the child; either
// way the parent is back to the memfds it had before the link once it has
// closed its end.
func TestCrossProcessBlobRecycled(t *testing.T) {
	n, rounds := 64<<20, 6
	if raceEnabled || testing.Short() {
		n = 8 << 20
	}
	for _, end := range []string{"close", "kill"} {
		t.Run(end, func(t *testing.T) {
			before := memfdUsage(t)
			host, child := startChild(t, "shm-blob-echo", shm.Config{Wait: 30 * time.Second}, nil)
			transporttest.Watchdog(t, 60*time.Second, host)
			linked := memfdUsage(t)
			var f transport.Frame
			var warm usage
			for i := range rounds {
				var d wire.Desc
				d.SetKind(kindData)
				seed := byte(10 * i)
				d.SetAux(uint64(seed))
				if i%2 == 0 {
					require.NoError(t, host.Send(&d, pattern(n, seed)))
				} else {
					buf, err := host.Alloc(n)
					require.NoError(t, err)
					copy(buf, pattern(n, seed))
					require.NoError(t, host.Send(&d, buf))
				}
				require.NoError(t, host.Recv(&f))
				require.Equal(t, uint64(seed+1), f.Desc.Aux())
				require.True(t, bytes.Equal(pattern(n, seed+1), f.Payload), "echo %d differs", i)
				host.Release(&f)
				if i == 0 {
					warm = memfdUsage(t)
				}
			}
			st := &host.blob.stats
			require.EqualValues(t, 1, st.created.Load(), "buffers the host created")
			require.EqualValues(t, rounds-1, st.reused.Load(), "buffers the host reused")
			require.EqualValues(t, 1, st.announced.Load(), "descriptors the host passed")
			require.EqualValues(t, 1, st.mapped.Load(), "child buffers the host mapped")
			require.Equal(t, warm, memfdUsage(t), "memfds or mappings came or went after the first round")
			require.Equal(t, linked.plus(usage{Fds: 1, Maps: 2}), warm, "the host's buffer and its mapping of the child's")

			var d wire.Desc
			d.SetKind(kindStop)
			require.NoError(t, host.Send(&d, nil))
			require.NoError(t, host.Recv(&f))
			require.Equal(t, wire.Kind(kindStop), f.Desc.Kind())
			aux := f.Desc.Aux()
			host.Release(&f)
			require.Zero(t, aux>>32, "the child holds memfds besides the segment and its blob buffers (see its stderr)")
			require.EqualValues(t, 1, aux&0xffff, "buffers the child created")
			require.EqualValues(t, rounds-1, aux>>16&0xffff, "buffers the child reused")

			if end == "kill" {
				require.NoError(t, child.Kill())
				require.ErrorIs(t, recvWithin(t, host, &f), plexus.ErrPeerDied)
				require.NoError(t, host.Close())
				_ = child.Wait(10 * time.Second)
			} else {
				require.NoError(t, host.Close())
				require.NoError(t, child.Wait(30*time.Second))
			}
			require.Equal(t, before, memfdUsage(t), "memfds or mappings left")
		})
	}
}
