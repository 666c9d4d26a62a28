package plexus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStatusIsByCode(t *testing.T) {
	err := fmt.Errorf("calling Add: %w", Errorf(PeerDied, "plugin %d exited", 42))
	require.ErrorIs(t, err, ErrPeerDied)
	require.NotErrorIs(t, err, ErrCanceled)
	var s *Status
	require.ErrorAs(t, err, &s)
	require.Equal(t, PeerDied, s.Code)
	require.Equal(t, "plexus: PEER_DIED: plugin 42 exited", s.Error())
	require.Equal(t, PeerDied, CodeOf(err))
}

func TestStatusCause(t *testing.T) {
	err := WithCause(PeerDied, io.EOF, "control socket closed")
	require.ErrorIs(t, err, io.EOF)
	require.ErrorIs(t, err, ErrPeerDied)
}

func TestCodeOf(t *testing.T) {
	require.Equal(t, OK, CodeOf(nil))
	require.Equal(t, Canceled, CodeOf(context.Canceled))
	require.Equal(t, DeadlineExceeded, CodeOf(fmt.Errorf("x: %w", context.DeadlineExceeded)))
	require.Equal(t, Unknown, CodeOf(errors.New("boom")))
	require.Equal(t, "CODE(999)", Code(999).String())
	require.Equal(t, "UNAUTHENTICATED", Unauthenticated.String())
}
