package host

import (
	"context"
	"os"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/transport"
)

// pluginLink is how a spawned plugin reaches its host: what the child
// inherits and what its handshake variable says, the socket the handshake
// runs on, and the transport that takes that socket over afterwards.
// Shared memory (link_shm_linux.go) and a socket (link_socket*.go)
// implement it; spawnInstance is written against it alone.
//
// Lifetime: made before the spawn, used by one goroutine; close releases
// whatever the link still owns (everything, before transport succeeds).
type pluginLink interface {
	// files are the child's descriptors from 3 on (none for a plugin
	// that connects back).
	files() []*os.File
	// describe fills the link's fields of the handshake variable.
	describe(e *handshake.Env)
	// spawned closes this process's copies of the child's files, once
	// the child has them (or failed to start).
	spawned()
	// control waits, within ctx, until the handshake can start, and
	// returns the socket it runs on; exited is closed if the plugin's
	// process ends meanwhile (a PeerDied status then).
	control(ctx context.Context, exited <-chan struct{}) (handshake.MsgConn, error)
	// transport takes the control socket over once the handshake has
	// succeeded.
	transport(cfg *Config) (transport.Transport, error)
	close()
}
