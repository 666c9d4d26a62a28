package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/internal/gen/shapetest"
	"github.com/plexus-ipc/plexus/internal/handshake"
)

// TestNewServiceHandshake: a plugin that lists NewXService(impl) answers
// the host's HELLO with the same service description, signatures included,
// as one that lists Generated(XServiceDesc, ...): a host is refused, or
// accepted, alike.
func TestNewServiceHandshake(t *testing.T) {
	h := &handshake.Hello{MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol, Cookie: "c", Versions: []uint32{1},
		Limits: handshake.Limits{MaxPayload: 1 << 20, ChannelWindow: 64 << 10, LinkWindow: 1 << 20}}
	oneCall, err := answer(&ServeConfig{Cookie: "c", Versions: map[uint32][]Service{1: {shapetest.NewShapesService(adder{})}}}, h)
	require.NoError(t, err)
	generated, err := answer(&ServeConfig{Cookie: "c", Versions: map[uint32][]Service{1: {generatedShapes()}}}, h)
	require.NoError(t, err)
	require.Equal(t, generated.Services, oneCall.Services)
	require.Len(t, oneCall.Services, 1)
	require.Len(t, oneCall.Services[0].Methods, len(shapetest.ShapesServiceDesc.Methods))
	for i, m := range shapetest.ShapesServiceDesc.Methods {
		require.Equal(t, handshake.Method{Name: m.Name, ID: m.ID, Signature: m.Signature}, oneCall.Services[0].Methods[i])
	}
}
