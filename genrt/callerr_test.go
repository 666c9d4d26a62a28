package genrt

import (
	"errors"
	"io"
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/stretchr/testify/require"
)

func TestCallError(t *testing.T) {
	un := plexus.Errorf(plexus.Unimplemented, "unknown service 0x6b05fdf5: this side serves nothing")
	err := CallError(un, "render.Values.Value")
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.Equal(t, plexus.Unimplemented, plexus.CodeOf(err))
	require.EqualError(t, err, "plexus: UNIMPLEMENTED: calling render.Values.Value: unknown service 0x6b05fdf5: this side serves nothing")
	require.True(t, errors.Is(err, un), "the peer's status stays reachable")

	named := plexus.Errorf(plexus.Unimplemented, "render.Values.Value is a notification, not a call")
	require.Same(t, named, CallError(named, "render.Values.Value"), "a message naming the method is kept")

	other := plexus.Errorf(plexus.NotFound, "no such key")
	require.Same(t, other, CallError(other, "kvtest.Store.Get"), "other codes pass as they are")
	require.Same(t, io.EOF, CallError(io.EOF, "kvtest.Store.Get"), "and errors that are no status")
}
