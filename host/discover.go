package host

import (
	"os"
	"path/filepath"
	"sort"
)

// Discover returns the plugin executables in dir whose names match the
// glob pattern (filepath.Match syntax; "" matches every name): regular
// files, after following symbolic links, with an execute bit set. The
// paths are absolute and sorted. go-plugin's Discover takes the same two
// arguments in the other order.
func Discover(dir, pattern string) ([]string, error) {
	if pattern == "" {
		pattern = "*"
	}
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if ok, _ := filepath.Match(pattern, e.Name()); !ok {
			continue
		}
		p := filepath.Join(abs, e.Name())
		fi, err := os.Stat(p) // follows links
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}
