//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary be the plugin: main serves when the host
// set PLEXUS_PLUGIN, and exits.
func TestMain(m *testing.M) {
	if os.Getenv("PLEXUS_PLUGIN") != "" {
		main()
	}
	os.Exit(m.Run())
}

func TestHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, runHost(ctx, &out))
	require.Equal(t, "Hello, world!\n", out.String())
}

// TestBuiltBinary runs the program as a user does, built on its own: the
// output is the greeting and nothing else.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the program")
	}
	exe := filepath.Join(t.TempDir(), "quickstart")
	build := exec.Command("go", "build", "-o", exe, ".")
	msg, err := build.CombinedOutput()
	require.NoError(t, err, string(msg))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	require.Equal(t, "Hello, world!\n", stdout.String())
}
