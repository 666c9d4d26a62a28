//go:build !js

package ws_test

import (
	"testing"

	"github.com/plexus-ipc/plexus/conformance"
	"github.com/plexus-ipc/plexus/transport"
)

// wsEnv is the session conformance env over a WebSocket on loopback TCP in
// this process: the scenario body drives the end that dialed, the callee
// serves on the end the Handler accepted.
func wsEnv() conformance.Env {
	return conformance.InProcess("ws", conformance.MaxPayload, func(t *testing.T, max int) (transport.Transport, transport.Transport) {
		return wsPair(t, max)
	})
}

// TestConformance runs the whole session conformance suite over ws, in
// both roles.
func TestConformance(t *testing.T) {
	conformance.Run(t, wsEnv())
}
