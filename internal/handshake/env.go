package handshake

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// EnvName is the one environment variable a host sets for its plugin:
//
//	PLEXUS_PLUGIN=fds=3-8;proto=2-3;versions=1,2;host=4242
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
		if err := e.parseField(kv, seen); err != nil {
			return e, err
		}
	}
	for _, f := range envFields {
		if !seen[f.key] {
			return e, fmt.Errorf("%s: field %q missing", EnvName, f.key)
		}
	}
	return e, nil
}

// envField is one key of the variable and the parser of its value, which
// sets e's fields even when it fails (ParseEnv returns e as it got).
type envField struct {
	key   string
	parse func(e *Env, v string) error
}

// envFields are the keys, in the order a missing one is reported.
var envFields = [...]envField{
	{"fds", (*Env).parseFDs},
	{"proto", (*Env).parseProto},
	{"versions", (*Env).parseVersions},
	{"host", (*Env).parseHost},
}

// parseField parses one key=value field into e, recording its key in
// seen. A repeated key is refused before its value is looked at, an
// unknown one as well.
func (e *Env) parseField(kv string, seen map[string]bool) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("%s: field %q is not key=value", EnvName, kv)
	}
	if seen[k] {
		return fmt.Errorf("%s: field %q given twice", EnvName, k)
	}
	seen[k] = true
	err := errors.New("unknown field")
	for _, f := range envFields {
		if f.key == k {
			err = f.parse(e, v)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: field %q: %v", EnvName, kv, err)
	}
	return nil
}

// parseFDs parses fds=first-last; descriptors 0 to 2 are the standard
// streams, never the link.
func (e *Env) parseFDs(v string) error {
	a, b, err := parseRange(v, 1<<20)
	e.FirstFD, e.LastFD = int(a), int(b)
	if err == nil && e.FirstFD < 3 {
		err = fmt.Errorf("descriptors start at %d, below 3 (stdin, stdout and stderr are not the link)", e.FirstFD)
	}
	return err
}

// parseProto parses proto=min-max; there is no protocol version 0.
func (e *Env) parseProto(v string) error {
	a, b, err := parseRange(v, 1<<16-1)
	e.MinProtocol, e.MaxProtocol = uint16(a), uint16(b)
	if err == nil && a == 0 {
		err = fmt.Errorf("protocol version 0")
	}
	return err
}

// parseVersions parses versions=v1,v2,...: uint32s, kept up to the first
// that does not parse, which checkVersions then bounds and orders.
func (e *Env) parseVersions(v string) error {
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return err
		}
		e.Versions = append(e.Versions, uint32(n))
	}
	return checkVersions(e.Versions)
}

// parseHost parses host=pid; pids 0 and 1 are never a host's (1 is init,
// which a plugin's parent becomes when its host has died).
func (e *Env) parseHost(v string) error {
	n, err := strconv.ParseUint(v, 10, 31)
	e.HostPID = int(n)
	if err == nil && n <= 1 {
		err = fmt.Errorf("host pid %d", n)
	}
	return err
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
