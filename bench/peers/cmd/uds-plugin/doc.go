// Command uds-plugin is the plugin of the comparison's raw Unix-socket
// baseline (package udspeer): started by its host with a socket as fd 3, it
// answers calls on it, one at a time, until end of file.
//
// Lifetime and concurrency: one process per socket; calls are served in
// order, one at a time.
package main
