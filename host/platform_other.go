//go:build !linux

package host

import "github.com/plexus-ipc/plexus/transport/stream"

// sharedMemory: the shared-memory link is Linux's.
const sharedMemory = false

const defaultMaxPayload = stream.DefaultMaxPayload
