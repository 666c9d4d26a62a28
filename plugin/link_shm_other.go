//go:build !linux

package plugin

import (
	"errors"
	"time"

	"github.com/plexus-ipc/plexus/internal/handshake"
)

// shmFileCount is the number of descriptors of a Linux host's
// shared-memory link (which this platform cannot open).
const shmFileCount = 6

var errNoShm = errors.New("plugin: the host offered a shared-memory link, which needs Linux")

func openShm(handshake.Env, *ServeConfig) (link, error) { return link{}, errNoShm }

func refuseShm(handshake.Env, time.Duration, func(*handshake.Hello) (*handshake.Reply, error)) {}
