package host

import (
	"context"
	"os"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

// shmLink is the shared-memory link: a segment whose pages are allocated
// and pre-faulted while the plugin starts (control waits for them before
// the handshake tells the plugin to map the segment), and a SOCK_SEQPACKET
// control socket, all passed to the child as fds 3 to 8.
type shmLink struct{ l *shmlink.Link }

func newShmLink(cfg *Config) (pluginLink, error) {
	l, err := shmlink.NewLinkDeferred(cfg.Segment)
	if err != nil {
		return nil, err
	}
	return shmLink{l}, nil
}

func (s shmLink) files() []*os.File { return s.l.PluginFiles() }

func (s shmLink) describe(e *handshake.Env) {
	e.FirstFD, e.LastFD = 3, 3+shmlink.FileCount-1
}

func (s shmLink) spawned() { s.l.ClosePluginFiles() }

func (s shmLink) control(context.Context, <-chan struct{}) (handshake.MsgConn, error) {
	if err := s.l.Ready(); err != nil {
		return nil, err
	}
	return handshake.Datagrams(s.l.Control()), nil
}

func (s shmLink) transport(cfg *Config) (transport.Transport, error) {
	return s.l.Transport(shmlink.Config{MaxPayload: cfg.MaxPayload,
		MaxPendingBlobs: cfg.MaxPendingBlobs, MaxBlobMemory: cfg.MaxBlobMemory})
}

func (s shmLink) close() { _ = s.l.Close() }
