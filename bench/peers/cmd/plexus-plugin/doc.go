// Command plexus-plugin is the plugin of the comparison's plexus peer
// (package plexuspeer): started by the driver's host.Client, it serves the
// comparison's service over shared memory until the host closes the link.
// Run by hand, it prints that it is a plugin and exits.
//
// Lifetime and concurrency: as plugin.Serve, one process per link; calls
// are served concurrently.
package main
