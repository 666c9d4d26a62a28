//go:build !linux

package host

import "errors"

// errNoLimits: prlimit(2), which sets another process's limits, is
// Linux's; Config refuses Limits elsewhere, so this is never reached.
var errNoLimits = errors.New("host: Config.Limits needs Linux")
