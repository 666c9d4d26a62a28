package chrome

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// BuildWasm builds the main package at pkg (a directory or import path)
// for the browser (GOOS=js GOARCH=wasm) into dir/main.wasm, and copies the
// Go toolchain's wasm_exec.js, which loads it, beside it. It returns the
// wasm file's size in bytes.
func BuildWasm(pkg, dir string) (int64, error) {
	out := filepath.Join(dir, "main.wasm")
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build %s for js/wasm: %v\n%s", pkg, err, b)
	}
	root := runtime.GOROOT()
	if b, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		root = strings.TrimSpace(string(b))
	}
	js, err := os.ReadFile(filepath.Join(root, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return 0, fmt.Errorf("the Go toolchain's wasm_exec.js: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644); err != nil {
		return 0, err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
