package plugin

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/handshake/handshaketest"
)

func hostsvcHello(minProto, maxProto uint16) *handshake.Hello {
	return &handshake.Hello{MinProtocol: minProto, MaxProtocol: maxProto, Cookie: "c", Versions: []uint32{1, 2},
		Limits: handshake.Limits{MaxPayload: 1 << 20, ChannelWindow: 64 << 10, LinkWindow: 1 << 20}}
}

// hostsvcConfig serves nothing in versions 1 and 2 and calls the host's
// kvtest.Store in version 2 only.
func hostsvcConfig() *ServeConfig {
	return &ServeConfig{Cookie: "c", Versions: map[uint32][]Service{1: nil, 2: nil},
		HostServices: map[uint32][]ServiceDesc{2: {kvtest.StoreServiceDesc}}}
}

// TestAnswerListsHostServices: the REPLY to a host that speaks protocol 3
// lists the host services the plugin calls in the chosen version, as
// generated code describes them.
func TestAnswerListsHostServices(t *testing.T) {
	r, err := answer(hostsvcConfig(), hostsvcHello(handshake.MinProtocol, handshake.MaxProtocol))
	require.NoError(t, err)
	require.Equal(t, handshake.HostServicesProtocol, r.Protocol)
	require.Equal(t, uint32(2), r.Version)
	require.Equal(t, handshake.Wire([]ServiceDesc{kvtest.StoreServiceDesc}), r.HostServices)
	_, err = r.Marshal()
	require.NoError(t, err)

	// Version 1 declares none.
	cfg := hostsvcConfig()
	delete(cfg.Versions, 2)
	delete(cfg.HostServices, 2)
	r, err = answer(cfg, hostsvcHello(handshake.MinProtocol, handshake.MaxProtocol))
	require.NoError(t, err)
	require.Equal(t, uint32(1), r.Version)
	require.Empty(t, r.HostServices)
}

// TestAnswerOlderHost: a host that speaks protocol 2 only cannot carry
// the host services: a plugin that declares some for the chosen version
// refuses, saying why; one that declares none links as before.
func TestAnswerOlderHost(t *testing.T) {
	_, err := answer(hostsvcConfig(), hostsvcHello(2, 2))
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch), "%v", err)
	require.ErrorContains(t, err, "plugin version 2 calls host services (kvtest.Store) that the host must check at link time, "+
		"but the host speaks link protocol 2..2, which cannot carry them (protocol 3 can)")
	require.ErrorContains(t, err, "leave version 2 out of the plugin's ServeConfig.HostServices")

	cfg := hostsvcConfig()
	cfg.HostServices = nil
	r, err := answer(cfg, hostsvcHello(2, 2))
	require.NoError(t, err)
	require.Equal(t, uint16(2), r.Protocol)
	b, err := r.Marshal()
	require.NoError(t, err)
	m, err := handshake.Decode(b)
	require.NoError(t, err)
	require.Empty(t, m.Reply.HostServices)
}

// TestOlderHostConversation: over a real SEQPACKET pair, an older host
// (protocol 2..2, no host-services check) gets the plugin's refusal as its
// error, and links with a plugin that declares nothing.
func TestOlderHostConversation(t *testing.T) {
	converse := func(cfg *ServeConfig) (hostErr, pluginErr error) {
		h, p := handshaketest.Seqpacket(t)
		dl := time.Now().Add(5 * time.Second)
		done := make(chan error, 1)
		go func() {
			_, _, err := handshake.Plugin(handshake.Datagrams(p), dl, func(h *handshake.Hello) (*handshake.Reply, error) { return answer(cfg, h) })
			done <- err
		}()
		_, hostErr = handshake.Host(handshake.Datagrams(h), dl, hostsvcHello(2, 2), nil)
		return hostErr, <-done
	}
	hErr, pErr := converse(hostsvcConfig())
	require.True(t, errors.Is(hErr, plexus.ErrVersionMismatch), "%v", hErr)
	require.ErrorContains(t, hErr, "plugin refused the link: plugin version 2 calls host services (kvtest.Store)")
	require.Error(t, pErr)

	cfg := hostsvcConfig()
	cfg.HostServices = nil
	hErr, pErr = converse(cfg)
	require.NoError(t, hErr)
	require.NoError(t, pErr)
}

// TestRunRefusesHostServicesOfNoVersion: a HostServices key that is not a
// served version is a mistake in the plugin's config, refused at once.
func TestRunRefusesHostServicesOfNoVersion(t *testing.T) {
	t.Setenv(handshake.EnvName, "fds=3-8;proto=2-3;versions=1;host=2")
	err := Run(ServeConfig{Versions: map[uint32][]Service{1: nil},
		HostServices: map[uint32][]ServiceDesc{3: {kvtest.StoreServiceDesc}}})
	require.ErrorContains(t, err, "ServeConfig.HostServices lists version 3, which Versions does not")
}
