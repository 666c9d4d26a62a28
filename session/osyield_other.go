//go:build !linux

package session

// yieldProcessor does nothing where no transport rings doorbells (only
// the shared-memory transport, Linux only, is a transport.Ringer).
func yieldProcessor() {}
