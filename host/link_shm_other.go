//go:build !linux

package host

import "errors"

// newShmLink: shared memory is Linux's (DESIGN.md "Platforms"); Config
// refuses LinkSharedMemory elsewhere before it gets here.
func newShmLink(*Config) (pluginLink, error) {
	return nil, errors.New("host: the shared-memory link needs Linux; use LinkSocket")
}
