package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/internal/gen/shapetest"
	"github.com/plexus-ipc/plexus/internal/handshake"
)

func TestGeneratedHandshakeCarriesGeneratedSignatures(t *testing.T) {
	cfg := &ServeConfig{Cookie: "c", Versions: map[uint32][]Service{1: {generatedShapes()}}}
	h := &handshake.Hello{MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol, Cookie: "c", Versions: []uint32{1},
		Limits: handshake.Limits{MaxPayload: 1 << 20, ChannelWindow: 64 << 10, LinkWindow: 1 << 20}}
	r, err := answer(cfg, h)
	require.NoError(t, err)
	require.Len(t, r.Services, 1)
	got := r.Services[0]
	require.Equal(t, shapetest.ShapesService, got.Name)
	require.Len(t, got.Methods, len(shapetest.ShapesServiceDesc.Methods))
	for i, m := range shapetest.ShapesServiceDesc.Methods {
		require.Equal(t, handshake.Method{Name: m.Name, ID: m.ID, Signature: m.Signature}, got.Methods[i])
		require.NotZero(t, m.Signature, m.Name)
	}
	// Generated copies the description: changing the source afterwards
	// changes nothing the handshake sends.
	s := generatedShapes()
	s.Description.Methods[0].Signature++
	require.Equal(t, shapetest.ShapesServiceDesc.Methods[0].Signature, got.Methods[0].Signature)
}
