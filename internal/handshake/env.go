package handshake

import (
	"fmt"
	"strconv"
	"strings"
)

// EnvName is the one environment variable a host sets for its plugin:
//
//	PLEXUS_PLUGIN=fds=3-8;proto=1-1;versions=1,2;host=4242
//
// fds is the inclusive range of inherited link descriptors, proto the
// host's link protocol range, versions the application versions it can
// use (strictly increasing) and host its process ID, which the plugin
// compares with its parent's to close the parent-death race.
const EnvName = "PLEXUS_PLUGIN"

// Env is the decoded variable.
type Env struct {
	FirstFD, LastFD          int
	MinProtocol, MaxProtocol uint16
	Versions                 []uint32
	HostPID                  int
}

func (e Env) String() string {
	vs := make([]string, len(e.Versions))
	for i, v := range e.Versions {
		vs[i] = strconv.FormatUint(uint64(v), 10)
	}
	return fmt.Sprintf("fds=%d-%d;proto=%d-%d;versions=%s;host=%d",
		e.FirstFD, e.LastFD, e.MinProtocol, e.MaxProtocol, strings.Join(vs, ","), e.HostPID)
}

const maxEnvLen = 4096

// ParseEnv decodes and validates the variable's value. Every field is
// required exactly once.
func ParseEnv(s string) (Env, error) {
	var e Env
	if len(s) > maxEnvLen {
		return e, fmt.Errorf("%s is %d bytes long, at most %d allowed", EnvName, len(s), maxEnvLen)
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return e, fmt.Errorf("%s: field %q is not key=value", EnvName, kv)
		}
		if seen[k] {
			return e, fmt.Errorf("%s: field %q given twice", EnvName, k)
		}
		seen[k] = true
		var err error
		switch k {
		case "fds":
			var a, b uint64
			a, b, err = parseRange(v, 1<<20)
			e.FirstFD, e.LastFD = int(a), int(b)
			if err == nil && e.FirstFD < 3 {
				err = fmt.Errorf("descriptors start at %d, below 3 (stdin, stdout and stderr are not the link)", e.FirstFD)
			}
		case "proto":
			var a, b uint64
			a, b, err = parseRange(v, 1<<16-1)
			e.MinProtocol, e.MaxProtocol = uint16(a), uint16(b)
			if err == nil && a == 0 {
				err = fmt.Errorf("protocol version 0")
			}
		case "versions":
			for _, f := range strings.Split(v, ",") {
				var n uint64
				if n, err = strconv.ParseUint(f, 10, 32); err != nil {
					break
				}
				e.Versions = append(e.Versions, uint32(n))
			}
			if err == nil {
				err = checkVersions(e.Versions)
			}
		case "host":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 31)
			e.HostPID = int(n)
			if err == nil && n <= 1 {
				err = fmt.Errorf("host pid %d", n)
			}
		default:
			err = fmt.Errorf("unknown field")
		}
		if err != nil {
			return e, fmt.Errorf("%s: field %q: %v", EnvName, kv, err)
		}
	}
	for _, k := range []string{"fds", "proto", "versions", "host"} {
		if !seen[k] {
			return e, fmt.Errorf("%s: field %q missing", EnvName, k)
		}
	}
	return e, nil
}

func parseRange(v string, limit uint64) (uint64, uint64, error) {
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, fmt.Errorf("not a range lo-hi")
	}
	lo, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0, 0, err
	}
	hi, err := strconv.ParseUint(b, 10, 64)
	if err != nil {
		return 0, 0, err
	}
	if lo > hi || hi > limit {
		return 0, 0, fmt.Errorf("range %d-%d is empty or above %d", lo, hi, limit)
	}
	return lo, hi, nil
}
