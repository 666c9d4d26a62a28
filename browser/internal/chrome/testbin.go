package chrome

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildWasmTest compiles the tests of the package at pkg (a directory or
// import path) for the browser (GOOS=js GOARCH=wasm) into dir/name with go
// test -c, and copies the Go toolchain's wasm_exec.js beside it. It
// returns the binary's path and size. The page that runs it passes the
// test flags (-test.run, -test.v) as the program's arguments.
//
// -race is dropped from GOFLAGS, since js/wasm has no race detector: a
// caller running its own tests with GOFLAGS=-race still gets a binary.
func BuildWasmTest(ctx context.Context, pkg, dir, name string) (string, int64, error) {
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS="+wasmGoFlags())
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", 0, fmt.Errorf("go test -c %s for js/wasm: %v\n%s", pkg, err, b)
	}
	if err := copyWasmExec(ctx, dir); err != nil {
		return "", 0, err
	}
	fi, err := os.Stat(out)
	if err != nil {
		return "", 0, err
	}
	return out, fi.Size(), nil
}

// copyWasmExec copies the wasm_exec.js of the go command's GOROOT (the
// toolchain that built the binary, whose runtime it must match) into dir.
func copyWasmExec(ctx context.Context, dir string) error {
	b, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	js, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(b)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fmt.Errorf("the Go toolchain's wasm_exec.js: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644)
}

// wasmGoFlags is GOFLAGS without -race.
func wasmGoFlags() string {
	var keep []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if f != "-race" && f != "-race=true" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}
