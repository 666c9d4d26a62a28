//go:build !linux

package host

import (
	"errors"
	"os"
)

// What Linux alone has (DESIGN.md "Platforms"): prlimit(2), which sets
// another process's limits (Config refuses Limits elsewhere, so these are
// never reached), and /proc/self/fd, through which the checksummed file
// itself is executed.

var errNoLimits = errors.New("host: Config.Limits needs Linux")

func applyLimits(int, Limits) error { return errNoLimits }

func limitGroup(int, Limits, map[int]bool) error { return errNoLimits }

// verified checks the file's SHA-256 and returns its path: without
// /proc/self/fd the checked file cannot be executed through its open
// descriptor, so a file swapped between check and start is not caught
// here as it is on Linux (as with hashicorp/go-plugin's SecureConfig).
func verified(path string, want []byte) (*os.File, string, error) {
	f, err := checkSum(path, want)
	if err != nil {
		return nil, "", err
	}
	return f, path, nil
}
