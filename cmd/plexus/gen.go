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

const genUsage = `usage: plexus gen [-dir DIR] [-check] [DIR ...]

Writes the client, server registration and service descriptions of the
interfaces marked //plexus:service in each package directory (default ".")
to <file>_plexus.go next to them. With -check nothing is written: it fails
if a committed file differs from what would be generated.
In a package: //go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen
`

func genMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, genUsage) }
	dir := fs.String("dir", ".", "package directory")
	check := fs.Bool("check", false, "do not write; fail if the generated file is missing or differs")
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
		if err != nil {
			fmt.Fprintln(stderr, err)
			status = 1
			continue
		}
		path := filepath.Join(d, name)
		if *check {
			old, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(old, src) {
				fmt.Fprintf(stderr, "plexus gen: %s is missing or out of date; run plexus gen in %s\n", path, d)
				status = 1
			}
			continue
		}
		wrote, err := writeIfChanged(path, src)
		if err != nil {
			fmt.Fprintf(stderr, "plexus gen: %v\n", err)
			status = 1
			continue
		}
		if wrote {
			fmt.Fprintf(stdout, "plexus gen: wrote %s\n", path)
		}
	}
	return status
}

// writeIfChanged leaves an up-to-date file alone, so that go generate
// does not touch modification times (and rebuilds) for nothing.
func writeIfChanged(path string, src []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, src) {
		return false, nil
	}
	return true, os.WriteFile(path, src, 0o644)
}
