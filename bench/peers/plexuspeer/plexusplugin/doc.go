// Package plexusplugin is the plugin's side of the comparison's plexus
// peer: the service (declared by hand, requests and responses as
// plexus.Raw bytes), its cookie and method IDs, and Serve, the plugin
// binary's main. It imports package plugin and not package host, as a
// plugin written with plexus would, so the plugin binary links what such
// a plugin links and its start is measured as theirs would be.
//
// Lifetime: Serve serves the host that started the process until the host
// closes the link, and does not return. Concurrency: the handlers run one
// goroutine per call, concurrently.
package plexusplugin
