package gen

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCommittedUpToDate walks the repository for packages that declare
// //plexus:service interfaces, regenerates each in memory and fails if the
// committed file differs: this is how CI checks that regenerating changes
// nothing. testdata directories are skipped (they hold rejection cases).
func TestCommittedUpToDate(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the repository root is two levels up")
	var dirs []string
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
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, OutputSuffix) {
			return nil
		}
		if declaresService(t, path) {
			if dir := filepath.Dir(path); len(dirs) == 0 || dirs[len(dirs)-1] != dir {
				dirs = append(dirs, dir)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, dirs, filepath.Join(root, "internal", "gen", "shapetest"), "the walk must find the golden packages")
	for _, dir := range dirs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(rel, func(t *testing.T) {
			name, src, err := GenerateFile(dir)
			require.NoError(t, err)
			committed, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err, "%s has services but no generated %s: run plexus gen there", rel, name)
			require.True(t, bytes.Equal(committed, src), "%s is out of date: run `go generate ./%s` (or plexus gen) and commit it", filepath.Join(rel, name), rel)
		})
	}
}

func declaresService(t *testing.T, path string) bool {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "//plexus:service"); ok && (rest == "" || rest[0] == ' ') {
			return true
		}
	}
	require.NoError(t, sc.Err())
	return false
}

// TestGoGenerate runs the command a //go:generate line runs, from a
// package directory, in its checking mode (so the tree is not written).
func TestGoGenerate(t *testing.T) {
	cmd := exec.Command("go", "run", "github.com/plexus-ipc/plexus/cmd/plexus", "gen", "-check")
	cmd.Dir = "shapetest"
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	cmd = exec.Command("go", "run", "github.com/plexus-ipc/plexus/cmd/plexus", "gen", "-check", filepath.Join("..", "testdata", "streamorder"))
	cmd.Dir = "shapetest"
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "S.Do: parameter 2 (int) follows a stream")
}
