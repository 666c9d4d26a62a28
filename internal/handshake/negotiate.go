package handshake

import (
	"fmt"
	"strings"

	"github.com/plexus-ipc/plexus"
)

// NegotiateProtocol returns the highest link protocol version in both
// ranges, or a VersionMismatch status naming both.
func NegotiateProtocol(hostMin, hostMax, pluginMin, pluginMax uint16) (uint16, error) {
	hi := min(hostMax, pluginMax)
	if hi < max(hostMin, pluginMin) {
		return 0, plexus.Errorf(plexus.VersionMismatch,
			"no common link protocol version: host speaks %d..%d, plugin speaks %d..%d",
			hostMin, hostMax, pluginMin, pluginMax)
	}
	return hi, nil
}

// NegotiateVersion returns the highest application version in both
// increasing lists, or a VersionMismatch status naming both.
func NegotiateVersion(host, plugin []uint32) (uint32, error) {
	i, j := len(host)-1, len(plugin)-1
	for i >= 0 && j >= 0 {
		switch {
		case host[i] == plugin[j]:
			return host[i], nil
		case host[i] > plugin[j]:
			i--
		default:
			j--
		}
	}
	return 0, plexus.Errorf(plexus.VersionMismatch,
		"no common plugin version: host supports %s, plugin supports %s", list(host), list(plugin))
}

func list(vs []uint32) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// CheckServices verifies that the plugin's services (got) include every
// service and method the host expects (want) with equal IDs and signature
// hashes. Services and methods the host does not expect are allowed. The
// error is a VersionMismatch status naming the first method that differs.
func CheckServices(version uint32, want, got []Service) error {
	d := compare(want, got, false)
	switch {
	case d == nil:
		return nil
	case d.method == "":
		return plexus.Errorf(plexus.VersionMismatch, "plugin version %d does not serve service %s", version, d.service)
	case d.missing:
		return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: service %s has no method %s", version, d.service, d.method)
	case d.got.ID != d.want.ID:
		return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: method %s.%s has ID %#x, host expects %#x",
			version, d.service, d.method, d.got.ID, d.want.ID)
	}
	return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: method %s.%s has signature hash %#016x, host expects %#016x",
		version, d.service, d.method, d.got.Signature, d.want.Signature)
}

// CheckHostServices verifies that the host serves (served) every service
// and method the plugin calls in the version chosen (need,
// Reply.HostServices), by the rules of CheckServices with the roles
// swapped, but for one: a signature hash of 0 on either side means the
// method is not described (a handler registered by hand, whose types the
// host cannot state), and only its presence is checked. The error is a
// VersionMismatch status naming the host service and method, and both
// hashes when they differ.
func CheckHostServices(version uint32, need, served []Service) error {
	d := compare(need, served, true)
	switch {
	case d == nil:
		return nil
	case d.method == "":
		return plexus.Errorf(plexus.VersionMismatch, "plugin version %d calls host service %s, which the host does not serve (it serves %s)",
			version, d.service, serviceNames(served))
	case d.missing:
		return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: host service %s has no method %s, which the plugin calls",
			version, d.service, d.method)
	case d.got.ID != d.want.ID:
		return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: host method %s.%s has ID %#x, plugin expects %#x",
			version, d.service, d.method, d.got.ID, d.want.ID)
	}
	return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: host method %s.%s has signature hash %#016x, plugin expects %#016x",
		version, d.service, d.method, d.got.Signature, d.want.Signature)
}

// difference is the first way a list of services falls short of another:
// a service missing (method empty), a method missing, or a method whose
// ID or signature hash differs.
type difference struct {
	service, method string
	missing         bool
	got, want       Method
}

// compare finds the first service or method of want that got lacks or
// describes otherwise, in want's order. With zeroUnchecked a signature
// hash of 0 on either side matches any.
func compare(want, got []Service, zeroUnchecked bool) *difference {
	have := make(map[string]*Service, len(got))
	for i := range got {
		have[got[i].Name] = &got[i]
	}
	for _, w := range want {
		g := have[w.Name]
		if g == nil {
			return &difference{service: w.Name, missing: true}
		}
		methods := make(map[string]Method, len(g.Methods))
		for _, m := range g.Methods {
			methods[m.Name] = m
		}
		for _, wm := range w.Methods {
			gm, ok := methods[wm.Name]
			d := &difference{service: w.Name, method: wm.Name, got: gm, want: wm}
			switch {
			case !ok:
				d.missing = true
				return d
			case gm.ID != wm.ID:
				return d
			case gm.Signature != wm.Signature && !(zeroUnchecked && (gm.Signature == 0 || wm.Signature == 0)):
				return d
			}
		}
	}
	return nil
}

// maxNamesShown bounds the service names an error lists.
const maxNamesShown = 8

// serviceNames lists up to maxNamesShown names of ss, for an error that
// says what there is instead.
func serviceNames(ss []Service) string {
	if len(ss) == 0 {
		return "none"
	}
	names := make([]string, 0, min(len(ss), maxNamesShown))
	for _, s := range ss[:min(len(ss), maxNamesShown)] {
		names = append(names, s.Name)
	}
	out := strings.Join(names, ", ")
	if n := len(ss) - len(names); n > 0 {
		out += fmt.Sprintf(" and %d more", n)
	}
	return out
}
