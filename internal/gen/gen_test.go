package gen

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files with the generator's output")

// TestGolden generates the code of kvtest and compares it with the
// committed store_plexus.go, which kvtest's own tests compile and run.
func TestGolden(t *testing.T) {
	got, err := Generate("kvtest")
	require.NoError(t, err)
	golden := filepath.Join("kvtest", "store"+OutputSuffix)
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "run go test ./internal/gen -update to accept the new output")
}

// TestRejects checks that services the codec cannot carry fail with an
// error that names the place and the reason.
func TestRejects(t *testing.T) {
	for dir, want := range map[string]string{
		"noctx":    "svc.go:5:2: S.Do: the first parameter must be a context.Context",
		"noerr":    "svc.go:7:2: S.Do: the last result must be an error",
		"chan":     "S.Do: parameter 1: type chan int is not supported by the codec",
		"notiface": "S is marked //plexus:service but is not an interface",
		"none":     "no interface in testdata/none is marked //plexus:service",
		"variadic": "S.Do: variadic methods are not supported",
	} {
		t.Run(dir, func(t *testing.T) {
			_, err := Generate(filepath.Join("testdata", dir))
			require.Error(t, err)
			require.Contains(t, err.Error(), want)
		})
	}
}

// TestWireName checks the name= option: the service constant, and so the
// method IDs, follow it.
func TestWireName(t *testing.T) {
	src, err := Generate(filepath.Join("testdata", "named"))
	require.NoError(t, err)
	require.Contains(t, string(src), `const SService = "acme.Storage"`)
	require.Contains(t, string(src), "func (c *SClient) Do(ctx context.Context, a0 uint) (r0 float32, err error)")
}
