package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/plexus-ipc/plexus/internal/gen"
)

const genUsage = `usage: plexus gen [-dir DIR] [-check] [-python OUTDIR] [DIR ...]

Writes the client, server registration and service descriptions of the
interfaces marked //plexus:service in each package directory (default ".")
to <file>_plexus.go next to them. With -check nothing is written: it fails
if a committed file differs from what would be generated.
With -python OUTDIR it also writes, for a Python plugin (python/plexus),
<package>_plexus.py into OUTDIR (relative to the current directory): per
service a base class to implement, a client of the host's service, the
method IDs and signature hashes of the Go code and the Go codec's value
encoding (see python/README.md). With -check it checks that file too.
In a package: //go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen
`

func genMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, genUsage) }
	dir := fs.String("dir", ".", "package directory")
	check := fs.Bool("check", false, "do not write; fail if the generated file is missing or differs")
	python := fs.String("python", "", "also write the Python module of the services into this directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		dirs = []string{*dir}
	}
	status := 0
	for _, d := range dirs {
		name, src, err := gen.GenerateFile(d)
		if err == nil {
			err = emit(filepath.Join(d, name), src, d, *check, stdout)
		}
		if err == nil && *python != "" {
			name, src, err = gen.GeneratePython(d)
			if err == nil {
				err = emit(filepath.Join(*python, name), src, d, *check, stdout)
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = 1
		}
	}
	return status
}

// emit writes src to path, or with check compares it with what is there.
func emit(path string, src []byte, dir string, check bool, stdout io.Writer) error {
	if check {
		old, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(old, src) {
			return fmt.Errorf("plexus gen: %s is missing or out of date; run plexus gen in %s", path, dir)
		}
		return nil
	}
	wrote, err := writeIfChanged(path, src)
	if err != nil {
		return fmt.Errorf("plexus gen: %w", err)
	}
	if wrote {
		fmt.Fprintf(stdout, "plexus gen: wrote %s\n", path)
	}
	return nil
}

// writeIfChanged leaves an up-to-date file alone, so that go generate
// does not touch modification times (and rebuilds) for nothing.
func writeIfChanged(path string, src []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, src) {
		return false, nil
	}
	return true, os.WriteFile(path, src, 0o644)
}
