// Package procstat reads /proc/<pid>/stat, which the host (a plugin's
// process group), the plugin (its line of ancestors) and plexus bench (a
// process's CPU time) each need, and which is easy to misparse: the
// command name comes second, in parentheses, and may itself hold spaces
// and parentheses.
//
// Lifetime and concurrency: stateless; its functions may be called from
// any goroutine.
package procstat
