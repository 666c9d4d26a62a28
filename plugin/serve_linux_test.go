package plugin

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/session"
)

func TestRunOutsideAHost(t *testing.T) {
	t.Setenv(handshake.EnvName, "")
	err := Run(ServeConfig{Versions: map[uint32][]Service{1: nil}})
	require.ErrorContains(t, err, handshake.EnvName, "an empty variable is refused precisely")
	require.False(t, errors.Is(err, ErrNotPlugin))

	t.Setenv(handshake.EnvName, "fds=3-5;proto=2-2;versions=1;host=2")
	err = Run(ServeConfig{Versions: map[uint32][]Service{1: nil}})
	require.ErrorContains(t, err, "host passed 3 link descriptors")
}

func TestRegister(t *testing.T) {
	ok := func(context.Context, []byte) (plexus.Marshaler, error) { return plexus.Raw{}, nil }
	require.NoError(t, register(session.NewMux(), []Service{{Name: "a.B", Methods: []Method{{Name: "C", Unary: ok}}}}))
	err := register(session.NewMux(), []Service{{Name: handshake.ReservedService}})
	require.ErrorContains(t, err, "reserved")
	err = register(session.NewMux(), []Service{{Name: "a.B", Methods: []Method{{Name: "C"}}}})
	require.ErrorContains(t, err, "exactly one handler, has 0")
	err = register(session.NewMux(), []Service{{Name: "a.B", Methods: []Method{{Name: "C", Unary: ok,
		Notify: func(context.Context, []byte) {}}}}})
	require.ErrorContains(t, err, "exactly one handler, has 2")
}

func TestAnswer(t *testing.T) {
	cfg := &ServeConfig{Cookie: "c", Versions: map[uint32][]Service{1: nil, 3: {{Name: "a.B",
		Methods: []Method{{Name: "C", Signature: 9}}}}}}
	h := &handshake.Hello{MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol, Cookie: "c", Versions: []uint32{1, 2, 3},
		Limits: handshake.Limits{MaxPayload: 1 << 20, ChannelWindow: 64 << 10, LinkWindow: 1 << 20}}
	r, err := answer(cfg, h)
	require.NoError(t, err)
	require.Equal(t, uint32(3), r.Version)
	require.Equal(t, []handshake.Service{{Name: "a.B", Methods: []handshake.Method{{Name: "C",
		ID: plexus.MethodID("a.B", "C"), Signature: 9}}}}, r.Services)
	h.Cookie = "x"
	_, err = answer(cfg, h)
	require.True(t, errors.Is(err, &plexus.Status{Code: plexus.Unauthenticated}))
}
