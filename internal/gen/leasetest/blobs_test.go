package leasetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/stretchr/testify/require"
)

// locators tell where buffers lie on each side: own for what a side
// allocated, peer for what it received. located is false where they
// cannot tell (every locator returns "").
type locators struct {
	hostOwn, hostPeer, pluginOwn, pluginPeer locator
	located                                  bool
}

var unlocated = locators{nowhere, nowhere, nowhere, nowhere, false}

func TestBlobsInproc(t *testing.T) {
	a, b := inproc.Pipe(inproc.Config{})
	runAll(t, a, b, unlocated, sizes)
}

func TestBlobsStream(t *testing.T) {
	// Up to 1 MiB: the socket adds nothing for larger leases, and 8 MiB
	// through it under -race on two shared cores costs seconds.
	a, b, err := stream.Pair(stream.Config{})
	require.NoError(t, err)
	runAll(t, a, b, unlocated, sizes[:len(sizes)-1])
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// sizes cover an empty lease, one small enough to travel inside a
// descriptor on shared memory, one in a small slot, one in the largest
// default slot class (1 MiB) and one above it, which travels in a memfd.
var sizes = []int{0, 20, 5000, 1 << 20, 8 << 20}

// runAll serves Blobs over the transport pair (host a, plugin b) and calls
// every method through the generated client, checking every byte and,
// where loc can tell, that each lease was read where it was written.
func runAll(t *testing.T, a, b transport.Transport, loc locators, sizes []int) (host, plugin *session.Session, c *BlobsClient) {
	im := newImpl(loc.pluginPeer, loc.pluginOwn)
	mux := session.NewMux()
	require.NoError(t, RegisterBlobs(mux, im))
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	host = session.New(a, session.Config{Role: session.Initiator, Logger: log})
	plugin = session.New(b, session.Config{Role: session.Acceptor, Mux: mux, Logger: log})
	t.Cleanup(func() { _ = host.Close(); _ = plugin.Close() })
	c = NewBlobsClient(host)

	// Each case has its own bound, so that a slow machine (-race, two
	// shared cores) fails the case that hangs rather than the ones after.
	var ctx context.Context
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			f(t)
		})
	}

	// lease allocates n bytes on the host's side and fills them in place;
	// it returns the lease, a copy of its bytes and where they lie.
	lease := func(t *testing.T, n int, seed uint64) (*session.Lease, []byte, string) {
		l, err := host.Alloc(n)
		require.NoError(t, err)
		pattern(l.Bytes(), seed)
		return l, bytes.Clone(l.Bytes()), loc.hostOwn(l.Bytes())
	}
	// located says whether a lease of n bytes lies where loc can tell:
	// in a slot or a memfd, not inside a descriptor.
	located := func(n int) bool { return loc.located && n >= 4096 }
	// sameMemory checks that what one side wrote is what the other read.
	sameMemory := func(t *testing.T, n int, wrote, read []string) {
		t.Helper()
		if located(n) {
			require.Len(t, wrote, 1)
			require.NotEmpty(t, wrote[0], "a lease of %d bytes lies in a slot or a memfd", n)
			require.Equal(t, wrote, read, "the receiver reads the memory the sender wrote")
			t.Logf("%d bytes: written and read in %s", n, wrote[0])
		}
	}

	run("Flip", func(t *testing.T) {
		for i, n := range sizes {
			l, want, where := lease(t, n, uint64(i))
			resp, err := c.Flip(ctx, l)
			require.NoError(t, err)
			in, out := im.take()
			flip(want, want)
			require.True(t, bytes.Equal(want, resp.Bytes()), "%d bytes", n)
			sameMemory(t, n, []string{where}, in)
			sameMemory(t, n, out, []string{loc.hostPeer(resp.Bytes())})
			resp.Release()
		}
	})

	run("Sum", func(t *testing.T) {
		for i, n := range sizes {
			l, want, where := lease(t, n, uint64(10+i))
			got, h, err := c.Sum(ctx, l)
			require.NoError(t, err)
			require.Equal(t, []any{n, hash(want)}, []any{got, h})
			in, _ := im.take()
			sameMemory(t, n, []string{where}, in)
		}
	})

	run("Fill", func(t *testing.T) {
		for i, n := range sizes {
			resp, err := c.Fill(ctx, n, uint64(20+i))
			require.NoError(t, err)
			require.True(t, bytes.Equal(patterned(n, uint64(20+i)), resp.Bytes()), "%d bytes", n)
			_, out := im.take()
			sameMemory(t, n, out, []string{loc.hostPeer(resp.Bytes())})
			resp.Release()
		}
	})

	run("Drop", func(t *testing.T) {
		for i, n := range sizes {
			l, want, where := lease(t, n, uint64(30+i))
			require.NoError(t, c.Drop(ctx, l))
			select {
			case h := <-im.drops:
				require.Equal(t, hash(want), h)
			case <-time.After(20 * time.Second):
				t.Fatalf("notification of %d bytes not handled", n)
			}
			in, _ := im.take()
			sameMemory(t, n, []string{where}, in)
		}
	})

	run("Pour", func(t *testing.T) {
		for _, n := range sizes {
			const count = 2
			seed := uint64(40 + n)
			var got int
			var read []string
			err := c.Pour(ctx, count, n, seed, func(l *session.Lease) error {
				if !bytes.Equal(patterned(n, seed+uint64(got)), l.Bytes()) {
					l.Release()
					return fmt.Errorf("lease %d of %d bytes differs", got, n)
				}
				read = append(read, loc.hostPeer(l.Bytes()))
				got++
				l.Release()
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, count, got)
			_, out := im.take()
			if located(n) {
				require.Equal(t, out, read)
			}
		}
	})

	run("Gather", func(t *testing.T) {
		var h uint64
		var wrote []string
		i := 0
		count, sum, err := c.Gather(ctx, func() (*session.Lease, error) {
			if i == len(sizes) {
				return nil, io.EOF
			}
			n := sizes[i%len(sizes)]
			l, want, where := lease(t, n, uint64(60+i))
			h = combine(h, want)
			if located(n) {
				wrote = append(wrote, where)
			}
			i++
			return l, nil
		})
		require.NoError(t, err)
		require.Equal(t, len(sizes), count)
		require.Equal(t, h, sum)
		in, _ := im.take()
		if loc.located {
			var read []string
			for j, w := range in {
				if located(sizes[j%len(sizes)]) {
					read = append(read, w)
				}
			}
			require.Equal(t, wrote, read)
		}
	})

	run("Mirror", func(t *testing.T) {
		st, err := c.OpenMirror(ctx)
		require.NoError(t, err)
		for i, n := range sizes {
			l, want, where := lease(t, n, uint64(80+i))
			require.NoError(t, st.Send(l))
			resp, err := st.Recv()
			require.NoError(t, err)
			flip(want, want)
			require.True(t, bytes.Equal(want, resp.Bytes()), "%d bytes", n)
			in, out := im.take()
			sameMemory(t, n, []string{where}, in)
			sameMemory(t, n, out, []string{loc.hostPeer(resp.Bytes())})
			resp.Release()
		}
		require.NoError(t, st.CloseSend())
		_, err = st.Recv()
		require.Equal(t, io.EOF, err)

		// The func form, with both directions at once.
		i := 0
		var got int
		err = c.Mirror(ctx, func() (*session.Lease, error) {
			if i == len(sizes) {
				return nil, io.EOF
			}
			l, _, _ := lease(t, sizes[i], uint64(90+i))
			i++
			return l, nil
		}, func(l *session.Lease) error {
			want := patterned(l.Len(), uint64(90+got))
			flip(want, want)
			defer l.Release()
			if !bytes.Equal(want, l.Bytes()) {
				return fmt.Errorf("mirrored lease %d differs", got)
			}
			got++
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, len(sizes), got)
		im.take()
	})

	run("Copied", func(t *testing.T) {
		// Outgoing metadata makes the session copy a lease into a frame
		// of its own (session.Lease's contract): the bytes arrive all the
		// same, and the locators see other memory, which shows that they
		// can tell a copy from the lease itself.
		mctx := plexus.WithMetadata(ctx, plexus.Metadata{"k": "v"})
		for i, n := range sizes {
			l, want, where := lease(t, n, uint64(100+i))
			got, h, err := c.Sum(mctx, l)
			require.NoError(t, err)
			require.Equal(t, []any{n, hash(want)}, []any{got, h})
			in, _ := im.take()
			if located(n) {
				require.Len(t, in, 1)
				require.NotEqual(t, where, in[0], "a copied lease is read elsewhere")
				t.Logf("%d bytes: written in %s, copied to %s", n, where, in[0])
			}
		}
	})

	run("Nil", func(t *testing.T) {
		_, err := c.Flip(ctx, nil)
		require.ErrorIs(t, err, plexus.ErrInvalidArgument)
		require.Contains(t, err.Error(), "Blobs.Flip: nil *session.Lease")
		_, _, err = c.Sum(ctx, nil)
		require.ErrorIs(t, err, plexus.ErrInvalidArgument)
		require.ErrorIs(t, c.Drop(ctx, nil), plexus.ErrInvalidArgument)

		// A handler that returns a nil lease fails the call.
		l, err := host.Alloc(3)
		require.NoError(t, err)
		copy(l.Bytes(), "nil")
		resp, err := c.Flip(ctx, l)
		require.Nil(t, resp)
		require.Equal(t, plexus.Internal, plexus.CodeOf(err))
		require.Contains(t, err.Error(), "Blobs.Flip: the handler returned a nil *session.Lease")

		// A handler may answer with the request's own view: it is copied.
		l, want, _ := lease(t, 5000, 3)
		copy(l.Bytes(), "echo")
		copy(want, "echo")
		resp, err = c.Flip(ctx, l)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, resp.Bytes()))
		resp.Release()
		im.take()
	})

	run("Failures", func(t *testing.T) {
		// A handler's lease returned with an error is released (the slot
		// checks of the shared-memory test see it); the caller gets the
		// error and no lease.
		resp, err := c.Fill(ctx, -(1 << 20), 1)
		require.Nil(t, resp)
		require.Equal(t, plexus.OutOfRange, plexus.CodeOf(err))

		// A lease given to a call that never leaves is released too.
		done, stop := context.WithCancel(ctx)
		stop()
		for _, n := range sizes[2:] {
			l, _, _ := lease(t, n, 1)
			_, err = c.Flip(done, l)
			require.ErrorIs(t, err, plexus.ErrCanceled)
			require.Zero(t, l.Len(), "the call took the lease over")
		}
		st, err := c.OpenMirror(ctx)
		require.NoError(t, err)
		st.Close()
		l, _, _ := lease(t, 1<<20, 2)
		err = st.Send(l)
		require.Error(t, err)
		require.False(t, errors.Is(err, io.EOF))
		require.Zero(t, l.Len(), "the stream took the lease over")
		im.take()
	})
	return host, plugin, c
}
