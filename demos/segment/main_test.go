//go:build linux

package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
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
	require.Contains(t, s, "1352 of 1352 slots free again")
	require.Contains(t, s, "\nok\n")
}
