package bus

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

const typeT, typeU = 0x7071, 0x7572

func typedMsg(subject string, typ uint64) *Message {
	return &Message{Subject: subject, Data: []byte(subject), Type: typ}
}

// TestTypedTopics: the first typed message gives a subject its type; a
// typed subscriber whose type differs from a subject it matches is
// refused when it joins; a typed message of another type is refused;
// untyped messages and subscribers are never checked.
func TestTypedTopics(t *testing.T) {
	b, err := New(Config{})
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()

	_, err = b.Publish(ctx, typedMsg("doc.1.saved", typeT))
	require.NoError(t, err)
	sub, err := b.Subscribe(ctx, "doc.*.saved", SubOptions{Type: typeT})
	require.NoError(t, err, "the subject's own type joins")
	_, err = b.Subscribe(ctx, "doc.>", SubOptions{Type: typeU})
	require.Equal(t, plexus.VersionMismatch, plexus.CodeOf(err), "another type is refused when it joins: %v", err)
	require.Contains(t, err.Error(), `"doc.1.saved"`)
	_, err = b.Subscribe(ctx, "other.>", SubOptions{Type: typeU})
	require.NoError(t, err, "a pattern matching no typed subject joins")
	raw, err := b.Subscribe(ctx, "doc.>", SubOptions{})
	require.NoError(t, err, "an untyped subscriber is not checked")

	_, err = b.Publish(ctx, typedMsg("doc.1.saved", typeU))
	require.Equal(t, plexus.VersionMismatch, plexus.CodeOf(err), "a message of another type is refused: %v", err)
	res, err := b.Publish(ctx, typedMsg("doc.2.saved", typeT))
	require.NoError(t, err)
	require.Equal(t, 2, res.Delivered)
	res, err = b.Publish(ctx, &Message{Subject: "doc.1.saved", Data: []byte("raw")})
	require.NoError(t, err, "untyped messages are not checked")
	require.Equal(t, 2, res.Delivered)

	for _, s := range []*Subscription{sub, raw} {
		for _, want := range []string{"doc.2.saved", "raw"} {
			d, err := s.TryNext()
			require.NoError(t, err)
			require.Equal(t, want, string(d.Data))
			require.NoError(t, d.Done())
		}
	}
}

// TestTypedEarlyJoiner: a typed subscriber that joined before the subject
// had a type is ended with VERSION_MISMATCH by the first message of
// another type, which the others receive.
func TestTypedEarlyJoiner(t *testing.T) {
	b, err := New(Config{})
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()
	wrong, err := b.Subscribe(ctx, "x.*", SubOptions{Type: typeU})
	require.NoError(t, err)
	right, err := b.Subscribe(ctx, "x.*", SubOptions{Type: typeT, Queue: "q"})
	require.NoError(t, err)
	res, err := b.Publish(ctx, typedMsg("x.a", typeT))
	require.NoError(t, err)
	require.Equal(t, 1, res.Delivered, "only the subscriber of the right type")
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = wrong.Next(nctx)
	require.Equal(t, plexus.VersionMismatch, plexus.CodeOf(err), "%v", err)
	d, err := right.Next(nctx)
	require.NoError(t, err)
	require.Equal(t, "x.a", string(d.Data))
	require.NoError(t, d.Done())
	require.Equal(t, 1, b.Stats().Subscriptions)
}

// TestTypedRecordBounded: the subject types recorded are bounded by
// Config.HistorySubjects; a subject beyond it is not recorded (the
// early-joiner rule still ends mistyped subscribers).
func TestTypedRecordBounded(t *testing.T) {
	b, err := New(Config{HistorySubjects: 2})
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()
	for _, s := range []string{"a", "b", "c"} {
		_, err := b.Publish(ctx, typedMsg(s, typeT))
		require.NoError(t, err)
	}
	_, err = b.Publish(ctx, typedMsg("b", typeU))
	require.Error(t, err, "recorded")
	_, err = b.Publish(ctx, typedMsg("c", typeU))
	require.NoError(t, err, "beyond the bound: not recorded")
}
