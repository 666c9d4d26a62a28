package plexustest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/plexustest"
	"github.com/plexus-ipc/plexus/plexustest/internal/echotest"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPair: one call serves the implementation; the generated client
// reaches it. Without host services, a callback is UNIMPLEMENTED, as it
// would be against a host that registered none.
func TestPair(t *testing.T) {
	ctx := testCtx(t)
	c := echotest.NewEchoClient(plexustest.Pair(t, echotest.NewEchoService(echo{})))
	got, err := c.Echo(ctx, "hello")
	require.NoError(t, err)
	require.Equal(t, "hello", got)
	_, err = c.Shout(ctx, "hello")
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
}

// TestConnectHostServices: the plugin's handler calls back the host's end
// on the same link, while the host's call waits.
func TestConnectHostServices(t *testing.T) {
	ctx := testCtx(t)
	link := plexustest.Connect(t, plexustest.Config{
		Services:     []plugin.Service{echotest.NewEchoService(echo{})},
		HostServices: []plugin.Service{echotest.NewCaseService(upper{})},
	})
	got, err := echotest.NewEchoClient(link.Host).Shout(ctx, "hi")
	require.NoError(t, err)
	require.Equal(t, "HI!", got)
	// The plugin's end calls the host's services directly too.
	got, err = echotest.NewCaseClient(link.Plugin).Upper(ctx, "direct")
	require.NoError(t, err)
	require.Equal(t, "DIRECT", got)
}

// TestConnectOnLink: OnLink gets the plugin's end and the version, and
// runs before any handler: what it stores is there for the first call,
// without synchronisation of the implementation's own (the race detector
// would see a missing one).
func TestConnectOnLink(t *testing.T) {
	for _, tc := range []struct{ set, want uint32 }{{0, 1}, {3, 3}} {
		t.Run(fmt.Sprint(tc.set), func(t *testing.T) {
			ctx := testCtx(t)
			impl := &viaOnLink{}
			var version uint32
			var conn session.Conn
			link := plexustest.Connect(t, plexustest.Config{
				Services:     []plugin.Service{echotest.NewEchoService(impl)},
				HostServices: []plugin.Service{echotest.NewCaseService(upper{})},
				Version:      tc.set,
				OnLink: func(host session.Conn, v uint32) {
					conn, version = host, v
					impl.host = echotest.NewCaseClient(host)
				},
			})
			got, err := echotest.NewEchoClient(link.Host).Shout(ctx, "on link")
			require.NoError(t, err)
			require.Equal(t, "ON LINK!", got)
			require.Equal(t, tc.want, version)
			require.Same(t, link.Plugin, conn, "OnLink gets the plugin's end")
		})
	}
}

// blocker is an Echo whose Echo waits for its context to end (at most
// wait) and reports that it did.
type blocker struct {
	echo
	started   chan struct{}
	cancelled chan error
}

func (b blocker) Echo(ctx context.Context, _ string) (string, error) {
	close(b.started)
	select {
	case <-ctx.Done():
		b.cancelled <- context.Cause(ctx)
	case <-time.After(20 * time.Second):
		b.cancelled <- nil
	}
	return "", ctx.Err()
}

// TestPairClosedByCleanup: when the test that made the pair ends, both
// sessions are closed: a call still in flight fails with LINK_CLOSED and
// its handler's context is cancelled.
func TestPairClosedByCleanup(t *testing.T) {
	b := blocker{started: make(chan struct{}), cancelled: make(chan error, 1)}
	var conn *session.Session
	callErr := make(chan error, 1)
	t.Run("user", func(t *testing.T) {
		conn = plexustest.Pair(t, echotest.NewEchoService(b))
		go func() {
			_, err := echotest.NewEchoClient(conn).Echo(context.Background(), "wait")
			callErr <- err
		}()
		select {
		case <-b.started:
		case <-time.After(20 * time.Second):
			t.Fatal("the handler did not start")
		}
	})
	select {
	case <-conn.Done():
	default:
		t.Fatal("the host's end is still up after the test ended")
	}
	require.ErrorIs(t, conn.Err(), plexus.ErrLinkClosed)
	// The host's end is closed first, so its call fails with its own
	// LINK_CLOSED; the handler's end may see that (PEER_DIED) before its
	// own Close, so only the cancellation itself is certain there.
	for name, ch := range map[string]chan error{"call": callErr, "handler": b.cancelled} {
		select {
		case err := <-ch:
			require.Error(t, err, "%s: ended by the link's close", name)
			if name == "call" {
				require.ErrorIs(t, err, plexus.ErrLinkClosed)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: still running after the link was closed", name)
		}
	}
	_, err := echotest.NewEchoClient(conn).Echo(context.Background(), "late")
	require.ErrorIs(t, err, session.ErrNotSent, "a call after the end is refused before it is sent")
}

// TestStart: a Link of one's own, closed by its owner; Close is
// idempotent; services that do not register fail Start, naming the side.
func TestStart(t *testing.T) {
	ctx := testCtx(t)
	link, err := plexustest.Start(plexustest.Config{Services: []plugin.Service{echotest.NewEchoService(echo{})}})
	require.NoError(t, err)
	got, err := echotest.NewEchoClient(link.Host).Echo(ctx, "mine")
	require.NoError(t, err)
	require.Equal(t, "mine", got)
	link.Close()
	link.Close()
	require.ErrorIs(t, link.Host.Err(), plexus.ErrLinkClosed)
	// The plugin's end may see the host's close (PEER_DIED) before its own.
	select {
	case <-link.Plugin.Done():
		require.Error(t, link.Plugin.Err())
	case <-time.After(20 * time.Second):
		t.Fatal("the plugin's end is still up after Close")
	}
	_, err = echotest.NewEchoClient(link.Host).Echo(ctx, "late")
	require.ErrorIs(t, err, plexus.ErrLinkClosed)

	_, err = plexustest.Start(plexustest.Config{Services: []plugin.Service{echotest.NewEchoService(nil)}})
	require.ErrorContains(t, err, "plexustest: Services: plugin: registering echotest.Echo")
	require.ErrorContains(t, err, "the Echo implementation is nil")
	_, err = plexustest.Start(plexustest.Config{
		Services:     []plugin.Service{echotest.NewEchoService(echo{})},
		HostServices: []plugin.Service{echotest.NewCaseService(upper{}), echotest.NewCaseService(upper{})},
	})
	require.ErrorContains(t, err, "plexustest: HostServices:")
}

// TestPairConcurrent: the host's end is shared by concurrent callers, as a
// session is, and each gets its own answer.
func TestPairConcurrent(t *testing.T) {
	ctx := testCtx(t)
	c := echotest.NewEchoClient(plexustest.Pair(t, echotest.NewEchoService(echo{})))
	const callers, calls = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				want := fmt.Sprintf("%d/%d", g, i)
				got, err := c.Echo(ctx, want)
				if err == nil && got != want {
					err = fmt.Errorf("Echo(%q) = %q", want, got)
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
		t.Error(err)
	}
}
