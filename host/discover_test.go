package host_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/host"
)

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/true\n"), mode))
	}
	write("plugin-b", 0o755)
	write("plugin-a", 0o700)
	write("plugin-data", 0o644) // not executable
	write("other", 0o755)       // does not match
	require.NoError(t, os.Mkdir(filepath.Join(dir, "plugin-dir"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(dir, "plugin-a"), filepath.Join(dir, "plugin-link")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "plugin-dangling")))

	got, err := host.Discover(dir, "plugin-*")
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "plugin-a"), filepath.Join(dir, "plugin-b"), filepath.Join(dir, "plugin-link")}, got)

	all, err := host.Discover(dir, "")
	require.NoError(t, err)
	require.Len(t, all, 4)

	_, err = host.Discover(dir, "[")
	require.Error(t, err)
	_, err = host.Discover(filepath.Join(dir, "nope"), "*")
	require.Error(t, err)
}
