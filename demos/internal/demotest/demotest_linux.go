package demotest

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/demos/internal/demoutil"
	"github.com/plexus-ipc/plexus/plugin"
)

// Main is a demo test's TestMain: the test binary serves config when the
// host under test starts it as its plugin, as the demo's own binary does,
// and runs the tests otherwise.
func Main(m *testing.M, config func() plugin.ServeConfig) {
	demoutil.ServeIfPlugin(config)
	os.Exit(m.Run())
}

// Run runs run with args and a 20 s deadline (a demo's main allows a
// minute; a test should fail sooner), requires it to succeed, logs what it
// printed (seen with -v or on failure) and returns it.
func Run(t *testing.T, run demoutil.HostFunc, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, args))
	s := out.String()
	t.Log("\n" + s)
	return s
}
