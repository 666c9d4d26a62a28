package plugin

import (
	"fmt"
	"time"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// shmFileCount is the number of descriptors of a shared-memory link.
const shmFileCount = shmlink.FileCount

// openShm opens the shared-memory link from the inherited descriptors,
// running the handshake on its control socket before it maps the
// segment.
func openShm(env handshake.Env, cfg *ServeConfig) (link, error) {
	var l link
	tr, err := shmlink.OpenInheritedWith(env.FirstFD, shm.Config{}, func(ctl *sockconn.Conn) (shmlink.Config, error) {
		hello, r, err := handshake.Plugin(handshake.Datagrams(ctl), time.Now().Add(cfg.HandshakeTimeout), func(h *handshake.Hello) (*handshake.Reply, error) {
			return answer(cfg, h)
		})
		if err != nil {
			return shmlink.Config{}, err
		}
		l.hello, l.version = hello, r.Version
		return shmlink.Config{MaxPayload: int(hello.Limits.MaxPayload),
			MaxPendingBlobs: cfg.MaxPendingBlobs, MaxBlobMemory: cfg.MaxBlobMemory}, nil
	})
	if err != nil {
		return link{}, err
	}
	l.tr = tr
	return l, nil
}

// refuseShm runs the handshake on the shared-memory link's control socket
// to send the refusal no makes.
func refuseShm(env handshake.Env, timeout time.Duration, no func(*handshake.Hello) (*handshake.Reply, error)) {
	_, _ = shmlink.OpenInheritedWith(env.FirstFD, shm.Config{}, func(ctl *sockconn.Conn) (shmlink.Config, error) {
		_, _, err := handshake.Plugin(handshake.Datagrams(ctl), time.Now().Add(timeout), no)
		if err == nil {
			err = fmt.Errorf("plugin: refused")
		}
		return shmlink.Config{}, err
	})
}
