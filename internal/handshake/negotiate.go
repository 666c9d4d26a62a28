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
	have := make(map[string]*Service, len(got))
	for i := range got {
		have[got[i].Name] = &got[i]
	}
	for _, w := range want {
		g := have[w.Name]
		if g == nil {
			return plexus.Errorf(plexus.VersionMismatch, "plugin version %d does not serve service %s", version, w.Name)
		}
		methods := make(map[string]Method, len(g.Methods))
		for _, m := range g.Methods {
			methods[m.Name] = m
		}
		for _, wm := range w.Methods {
			gm, ok := methods[wm.Name]
			switch {
			case !ok:
				return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: service %s has no method %s", version, w.Name, wm.Name)
			case gm.ID != wm.ID:
				return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: method %s.%s has ID %#x, host expects %#x",
					version, w.Name, wm.Name, gm.ID, wm.ID)
			case gm.Signature != wm.Signature:
				return plexus.Errorf(plexus.VersionMismatch, "plugin version %d: method %s.%s has signature hash %#016x, host expects %#016x",
					version, w.Name, wm.Name, gm.Signature, wm.Signature)
			}
		}
	}
	return nil
}
