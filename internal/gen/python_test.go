package gen

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPythonGolden generates the Python modules of the test packages and
// compares them with the committed files (go test ./internal/gen -update
// rewrites them); shapetest's python_linux_test.go serves and calls them
// across processes. Each must compile under Debian's python3.
func TestPythonGolden(t *testing.T) {
	for _, dir := range []string{"kvtest", "shapetest", "leasetest"} {
		t.Run(dir, func(t *testing.T) {
			name, got, err := GeneratePython(dir)
			require.NoError(t, err)
			require.Equal(t, dir+PythonSuffix, name)
			golden := filepath.Join(dir, name)
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "run go test ./internal/gen -update to accept the new output")
			pyCompile(t, golden)
		})
	}
}

func pyCompile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3: run python/install-deps.sh")
	}
	code := "import ast, sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec', dont_inherit=True)"
	out, err := exec.Command("/usr/bin/python3", "-c", code, path).CombinedOutput()
	require.NoError(t, err, "%s does not compile:\n%s", path, out)
}

// TestPythonCommittedUpToDate finds every committed <pkg>_plexus.py next
// to the Go package it was generated from (outside testdata) and fails if
// regenerating it would change it, as TestCommittedUpToDate does for the
// Go output.
func TestPythonCommittedUpToDate(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	var found []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == "testdata" || n == "vendor" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, PythonSuffix) && declaresServiceDir(t, filepath.Dir(path)) {
			found = append(found, path)
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, found, filepath.Join(root, "internal", "gen", "shapetest", "shapetest"+PythonSuffix))
	for _, path := range found {
		rel, _ := filepath.Rel(root, path)
		t.Run(rel, func(t *testing.T) {
			name, src, err := GeneratePython(filepath.Dir(path))
			require.NoError(t, err)
			require.Equal(t, filepath.Base(path), name)
			committed, err := os.ReadFile(path)
			require.NoError(t, err)
			require.True(t, bytes.Equal(committed, src), "%s is out of date: run plexus gen -python %s in %s", rel, filepath.Dir(rel), filepath.Dir(rel))
		})
	}
}

func declaresServiceDir(t *testing.T, dir string) bool {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	for _, n := range names {
		if !strings.HasSuffix(n, "_test.go") && !strings.HasSuffix(n, OutputSuffix) && declaresService(t, n) {
			return true
		}
	}
	return false
}
