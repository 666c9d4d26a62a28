//go:build !linux

package loadgen

// MaybeHelper returns at once: load helpers are started on Linux only.
func MaybeHelper() {}
