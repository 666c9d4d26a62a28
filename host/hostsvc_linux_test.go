package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/demos/callbacks/render"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// The plugin of these tests declares the host services it calls
// (plugin.ServeConfig.HostServices): render.Values, the generated
// callback service of demos/callbacks, as HOSTSVC_NEEDS says. It is this
// test binary in mode "hostsvc", served from init because TestMain
// (main_linux_test.go) knows only its own modes; init runs before it.
const hostsvcMode = "hostsvc"

// hostsvcRelay is the plugin's one service: Get asks the host's Values
// for the key it is given.
const hostsvcRelay = "hostsvc.Relay"

var (
	relayGetID = plexus.MethodID(hostsvcRelay, "Get")
	// changedSig is render.Values.Value's signature hash as a build with
	// another Value (say one returning an int) would declare it.
	changedSig = uint64(0x0123456789abcdef)
)

func init() {
	if os.Getenv(modeEnv) == hostsvcMode {
		plugin.Serve(hostsvcServeConfig(os.Getenv("HOSTSVC_NEEDS")))
	}
}

// hostsvcNeeds is what the plugin declares it calls on the host.
func hostsvcNeeds(which string) []plugin.ServiceDesc {
	values := render.ValuesServiceDesc
	values.Methods = append([]plexus.MethodDesc(nil), values.Methods...)
	switch which {
	case "none":
		return nil
	case "changed": // built against another version of Values
		for i := range values.Methods {
			if values.Methods[i].Name == "Value" {
				values.Methods[i].Signature = changedSig
			}
		}
	case "more": // built against a Values with one more method
		values.Methods = append(values.Methods, plexus.MethodDesc{Name: "Count", Kind: plexus.Unary, Signature: 0x99})
	}
	return []plugin.ServiceDesc{values}
}

func hostsvcServeConfig(needs string) plugin.ServeConfig {
	var values atomic.Pointer[render.ValuesClient]
	relay := plugin.Service{Name: hostsvcRelay, Methods: []plugin.Method{{Name: "Get", Signature: 0x2222,
		Unary: func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
			v, err := values.Load().Value(ctx, string(req))
			return plexus.Raw(v), err
		}}}}
	cfg := plugin.ServeConfig{Cookie: cookie, Versions: map[uint32][]plugin.Service{1: {relay}},
		Logger: plugin.Logger("hostsvc"),
		OnLink: func(h session.Conn, _ uint32) { values.Store(render.NewValuesClient(h)) },
	}
	if n := hostsvcNeeds(needs); n != nil {
		cfg.HostServices = map[uint32][]plugin.ServiceDesc{1: n}
	}
	return cfg
}

// hostValues serves render.Values from a map.
type hostValues map[string]string

func (h hostValues) Value(_ context.Context, key string) (string, error) {
	if v, ok := h[key]; ok {
		return v, nil
	}
	return "", plexus.Errorf(plexus.NotFound, "no value %q", key)
}

func (hostValues) List(context.Context, string) ([]string, error) { return nil, nil }

// hostsvcConfig starts the plugin declaring needs, with mux as the host's
// services.
func hostsvcConfig(t *testing.T, needs string, mux *session.Mux) host.Config {
	var buf logBuf
	cfg := config(t, &buf, "HOSTSVC_NEEDS="+needs)
	cfg.Name = "hostsvc"
	cfg.Env[0] = modeEnv + "=" + hostsvcMode // config's first entry picks the mode
	cfg.Versions = map[uint32][]host.ServiceDesc{1: {{Name: hostsvcRelay, Methods: []host.MethodDesc{{Name: "Get", Signature: 0x2222}}}}}
	cfg.HostServices = mux
	return cfg
}

// valuesMux serves render.Values, described (as generated code describes
// it) when describe is set.
func valuesMux(t *testing.T, describe bool) *session.Mux {
	m := session.NewMux()
	require.NoError(t, render.RegisterValues(m, hostValues{"customer": "Ada"}))
	if describe {
		require.NoError(t, m.Describe(render.ValuesServiceDesc))
	}
	return m
}

func relayGet(t *testing.T, c *host.Client, key string) (string, error) {
	t.Helper()
	var resp plexus.Raw
	err := c.Invoke(context.Background(), relayGetID, plexus.Raw(key), &resp)
	return string(resp), err
}

// TestHostServicesMatch: a plugin that declares the host service it calls
// links with a host that serves it with the same signatures, and calls
// back; with handlers registered but not described, only their presence
// is checked, and it links too.
func TestHostServicesMatch(t *testing.T) {
	for _, describe := range []bool{true, false} {
		t.Run(fmt.Sprintf("described=%v", describe), func(t *testing.T) {
			c := start(t, hostsvcConfig(t, "same", valuesMux(t, describe)))
			v, err := relayGet(t, c, "customer")
			require.NoError(t, err)
			require.Equal(t, "Ada", v)
			_, err = relayGet(t, c, "nobody")
			require.ErrorIs(t, codec.DecodeError(err), plexus.ErrNotFound)
		})
	}
}

// TestHostServiceSignatureMismatch: a plugin built against another
// version of the host's service is refused at Start, naming the service,
// the method and both signature hashes, rather than failing at its first
// callback with a codec error.
func TestHostServiceSignatureMismatch(t *testing.T) {
	err := startFails(t, hostsvcConfig(t, "changed", valuesMux(t, true)))
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch), "%v", err)
	var hostSig uint64
	for _, m := range render.ValuesServiceDesc.Methods {
		if m.Name == "Value" {
			hostSig = m.Signature
		}
	}
	require.ErrorContains(t, err, fmt.Sprintf(
		"plugin version 1: host method render.Values.Value has signature hash %#016x, plugin expects %#016x", hostSig, changedSig))
}

// TestHostServiceMissing: a plugin that calls a host service the host
// does not serve, or a method it lacks, is refused at Start naming them.
func TestHostServiceMissing(t *testing.T) {
	err := startFails(t, hostsvcConfig(t, "same", nil))
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch), "%v", err)
	require.ErrorContains(t, err, "plugin version 1 calls host service render.Values, which the host does not serve (it serves none)")

	other := session.NewMux()
	_, err = other.HandleUnary("hostsvc.Other", "Ping", func(context.Context, []byte) (plexus.Marshaler, error) { return plexus.Raw{}, nil })
	require.NoError(t, err)
	err = startFails(t, hostsvcConfig(t, "same", other))
	require.ErrorContains(t, err, "calls host service render.Values, which the host does not serve (it serves hostsvc.Other)")

	err = startFails(t, hostsvcConfig(t, "more", valuesMux(t, true)))
	require.True(t, errors.Is(err, plexus.ErrVersionMismatch), "%v", err)
	require.ErrorContains(t, err, "plugin version 1: host service render.Values has no method Count, which the plugin calls")
}

// TestHostServicesNoneDeclared: a plugin that declares nothing links with
// a host that serves nothing, as before the check existed; its calls to
// the host then fail at call time, with the serving side's words.
func TestHostServicesNoneDeclared(t *testing.T) {
	c := start(t, hostsvcConfig(t, "none", nil))
	_, err := relayGet(t, c, "customer")
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.ErrorContains(t, err, "this side serves no services")

	other := session.NewMux()
	_, err = other.HandleUnary("hostsvc.Other", "Ping", func(context.Context, []byte) (plexus.Marshaler, error) { return plexus.Raw{}, nil })
	require.NoError(t, err)
	c = start(t, hostsvcConfig(t, "none", other))
	_, err = relayGet(t, c, "customer")
	require.ErrorIs(t, err, plexus.ErrUnimplemented)
	require.ErrorContains(t, err, "this side serves hostsvc.Other", "what the host serves instead is named")
}
