package kvtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bus"
	"github.com/plexus-ipc/plexus/bus/buslink"
	"github.com/plexus-ipc/plexus/genrt"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

// busLink is a host's bus served over an in-process link, and the other
// end's client.
func busLink(t *testing.T) (*bus.Bus, *buslink.Client) {
	t.Helper()
	b, err := bus.New(bus.Config{})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	mux := session.NewMux()
	require.NoError(t, buslink.Register(mux, b))
	a, c := inproc.Pipe(inproc.Config{})
	host := session.New(a, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	plug := session.New(c, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	t.Cleanup(func() { _ = plug.Close(); _ = host.Close() })
	return b, buslink.NewClient(plug)
}

// TestEntryTopic: the generated EntryTopic publishes typed messages that
// a typed subscriber across a link decodes; a subscriber built for
// another version of the message (another type hash) is refused when it
// joins, and a publisher of one is refused, with VERSION_MISMATCH.
func TestEntryTopic(t *testing.T) {
	b, c := busLink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sub, err := c.Subscribe(ctx, EntryTopic.Pattern, EntryTopic.Options(bus.SubOptions{}))
	require.NoError(t, err)
	want := &Entry{Key: "a", Value: []byte{1, 2, 3}, Tags: []string{"x"}}
	m, err := EntryTopic.Message("kv.a.changed", want)
	require.NoError(t, err)
	res, err := c.Publish(ctx, m)
	require.NoError(t, err)
	require.Equal(t, 1, res.Delivered)
	d, err := sub.Next(ctx)
	require.NoError(t, err)
	got, err := EntryTopic.Decode(d.Data)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, d.Done())

	_, err = EntryTopic.Message("other.a", want)
	require.Equal(t, plexus.InvalidArgument, plexus.CodeOf(err), "a subject outside the topic")
	_, err = EntryTopic.Decode([]byte{0xc1})
	require.Equal(t, plexus.InvalidArgument, plexus.CodeOf(err))

	// Another build of the message: same pattern, another type.
	older := genrt.Topic[Entry, *Entry]{Pattern: EntryTopic.Pattern, Type: EntryTopic.Type ^ 1}
	_, err = c.Subscribe(ctx, older.Pattern, older.Options(bus.SubOptions{}))
	require.Equal(t, plexus.VersionMismatch, plexus.CodeOf(err), "%v", err)
	m, err = older.Message("kv.a.changed", want)
	require.NoError(t, err)
	_, err = c.Publish(ctx, m)
	require.Equal(t, plexus.VersionMismatch, plexus.CodeOf(err), "%v", err)
	_, err = b.Publish(ctx, m) // on the host's bus alike
	require.Equal(t, plexus.VersionMismatch, plexus.CodeOf(err), "%v", err)
}
