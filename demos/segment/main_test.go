//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/shm"
)

// TestMain lets the test binary play the demo's child process, as the
// demo's own binary does.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := child(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, host(&out))
	s := out.String()
	t.Log(s)
	require.Contains(t, s, "received 1000000 descriptors and 200 blobs through shared memory")
	require.Contains(t, s, "matches")
	n := 0
	for _, c := range shm.DefaultClasses() {
		n += c.Count
	}
	require.Contains(t, s, fmt.Sprintf("%d of %d slots free again", n, n))
	require.Contains(t, s, "\nok\n")
}
