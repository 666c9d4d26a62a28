package host

import "github.com/plexus-ipc/plexus/transport/shmlink"

// sharedMemory: this platform has the shared-memory link.
const sharedMemory = true

// defaultMaxPayload is Config.MaxPayload's default for the shared-memory
// link.
const defaultMaxPayload = shmlink.DefaultMaxPayload
