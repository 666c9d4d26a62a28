//go:build linux

package main

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/demos/internal/demotest"
)

func TestMain(m *testing.M) { demotest.Main(m, pluginConfig) }

func TestDemo(t *testing.T) {
	s := demotest.Run(t, run)
	first := regexp.MustCompile(`plugin running as pid (\d+); Work answered from pid (\d+)\n`).FindStringSubmatch(s)
	require.NotNil(t, first)
	require.Equal(t, first[1], first[2])
	require.Contains(t, s, "5 Work calls in flight; asking the plugin to crash\n")
	require.Contains(t, s, "5 of 5 in-flight calls failed with PEER_DIED")
	require.Contains(t, s, "  for example: plexus: PEER_DIED: ")
	// The host's log shows the plugin's panic, its death and the restart.
	require.Contains(t, s, "plugin crashed: panic: crash requested: the demo asked for it")
	require.Contains(t, s, "plugin died")
	require.Contains(t, s, "plugin restarted")
	next := regexp.MustCompile(`answered by the restarted plugin, pid (\d+) \(restarts: 1\)\n`).FindStringSubmatch(s)
	require.NotNil(t, next)
	require.NotEqual(t, first[1], next[1])
	require.Contains(t, s, "closed the plugin: ok\n")
}
