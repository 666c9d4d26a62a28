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
//
// A socket link (instead of shared memory) adds link=socket: fds is then
// the one inherited stream socket,
//
//	PLEXUS_PLUGIN=fds=3-3;proto=2-3;versions=1;host=4242;link=socket
//
// or, where a socket cannot be inherited (Windows), dial and nonce
// replace fds: the plugin connects to the host's listening socket at
// dial ("unix:" and a path) and writes the nonce (32 hex digits) first,
// by which the host knows its own child among whoever else connects.
const EnvName = "PLEXUS_PLUGIN"

// LinkSocket is the Link of an Env for a socket link.
const LinkSocket = "socket"

// Env is the decoded variable.
type Env struct {
	FirstFD, LastFD          int
	MinProtocol, MaxProtocol uint16
	Versions                 []uint32
	HostPID                  int
	// Link is "" for shared memory, LinkSocket for a socket link.
	Link string
	// Dial and Nonce, for a socket link the plugin connects back on
	// (FirstFD and LastFD are zero then).
	Dial, Nonce string
}

func (e Env) String() string {
	vs := make([]string, len(e.Versions))
	for i, v := range e.Versions {
		vs[i] = strconv.FormatUint(uint64(v), 10)
	}
	where := fmt.Sprintf("fds=%d-%d", e.FirstFD, e.LastFD)
	if e.Dial != "" {
		where = "dial=" + e.Dial + ";nonce=" + e.Nonce
	}
	s := fmt.Sprintf("%s;proto=%d-%d;versions=%s;host=%d",
		where, e.MinProtocol, e.MaxProtocol, strings.Join(vs, ","), e.HostPID)
	if e.Link != "" {
		s += ";link=" + e.Link
	}
	return s
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
		if f.required && !seen[f.key] && !(f.key == "fds" && seen["dial"]) {
			return e, fmt.Errorf("%s: field %q missing", EnvName, f.key)
		}
	}
	switch {
	case seen["dial"] && seen["fds"]:
		return e, fmt.Errorf("%s: fields \"dial\" and \"fds\" both given: the link is one or the other", EnvName)
	case seen["dial"] != seen["nonce"]:
		return e, fmt.Errorf("%s: field \"dial\" needs \"nonce\", and \"nonce\" needs \"dial\"", EnvName)
	case seen["dial"] && e.Link != LinkSocket:
		return e, fmt.Errorf("%s: field \"dial\" without link=%s", EnvName, LinkSocket)
	}
	return e, nil
}

// envField is one key of the variable and the parser of its value, which
// sets e's fields even when it fails (ParseEnv returns e as it got).
type envField struct {
	key      string
	parse    func(e *Env, v string) error
	required bool // fds: unless dial is given
}

// envFields are the keys, in the order a missing one is reported.
var envFields = [...]envField{
	{"fds", (*Env).parseFDs, true},
	{"proto", (*Env).parseProto, true},
	{"versions", (*Env).parseVersions, true},
	{"host", (*Env).parseHost, true},
	{"link", (*Env).parseLink, false},
	{"dial", (*Env).parseDial, false},
	{"nonce", (*Env).parseNonce, false},
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

// parseLink parses link=socket; shared memory is the absence of the field.
func (e *Env) parseLink(v string) error {
	if v != LinkSocket {
		return fmt.Errorf("unknown link %q (this plugin knows shared memory and %q)", v, LinkSocket)
	}
	e.Link = v
	return nil
}

// parseDial parses dial=unix:path or dial=tcp:host:port. The value may
// not hold ';', which separates fields.
func (e *Env) parseDial(v string) error {
	network, addr, ok := strings.Cut(v, ":")
	if !ok || addr == "" || (network != "unix" && network != "tcp") {
		return fmt.Errorf("not unix:path or tcp:host:port")
	}
	e.Dial = v
	return nil
}

// parseNonce parses nonce=32 hex digits.
func (e *Env) parseNonce(v string) error {
	if len(v) != 32 || strings.Trim(v, "0123456789abcdef") != "" {
		return fmt.Errorf("not 32 lower-case hex digits")
	}
	e.Nonce = v
	return nil
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
