package plugin

import "errors"

// errHostExited is why a plugin whose host is already gone does not start.
var errHostExited = errors.New("the host exited before the plugin started")

// lineage is where the plugin stands relative to its host.
type lineage struct {
	// direct: the host is the plugin's parent (it started the plugin, or
	// started a wrapper that executed it: the pid stays the host's
	// child). Only then is the parent-death signal armed: it fires when
	// the parent dies, and a wrapper's death is not the host's.
	direct bool
	// ownGroup: the plugin's process group is the one the host made for
	// it, led by the host's child on the plugin's line of ancestors (the
	// plugin itself, or the wrapper that forked it). Only then may the
	// plugin kill its group when the host dies.
	ownGroup bool
}
