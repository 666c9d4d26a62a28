package newmodule

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOwnModule follows the README's "Your own module" on a module of its
// own in a temporary directory, with testdata/app's three packages (the
// service, a host, a plugin). The README's `go get -tool
// github.com/plexus-ipc/plexus/cmd/plexus@latest` is written here as the
// two go.mod lines it adds, pointing at this checkout (a replace), since
// the code under test is not published: the requirement and the tool
// directive, which keeps the requirement through `go mod tidy` before
// anything imports plexus. Then, as the README: go generate, go mod tidy,
// go build of the host and the plugin as separate binaries, and the host
// run against the plugin.
func TestOwnModule(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the repository root is two levels up")
	dir := t.TempDir()
	require.NoError(t, copyTree(filepath.Join("testdata", "app"), dir))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		// The module's own settings, not those of the test's run.
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
		return string(out)
	}
	run("go", "mod", "init", "example.com/app")
	run("go", "mod", "edit", "-replace", "github.com/plexus-ipc/plexus="+root,
		"-require", "github.com/plexus-ipc/plexus@v0.0.0-00010101000000-000000000000",
		"-tool", "github.com/plexus-ipc/plexus/cmd/plexus")
	run("go", "mod", "tidy")
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(gomod), "tool github.com/plexus-ipc/plexus/cmd/plexus", "tidy keeps the tool")

	run("go", "generate", "./...")
	_, err = os.Stat(filepath.Join(dir, "greeter", "greeter_plexus.go"))
	require.NoError(t, err, "go generate wrote the service's code")
	run("go", "mod", "tidy")
	bin := t.TempDir()
	run("go", "build", "-o", filepath.Join(bin, "host"), "./cmd/host")
	run("go", "build", "-o", filepath.Join(bin, "greeter-plugin"), "./cmd/greeter-plugin")
	out := run(filepath.Join(bin, "host"), filepath.Join(bin, "greeter-plugin"))
	require.Equal(t, "Hello, newcomer!\n", out)
}

// copyTree copies the regular files under src into dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
