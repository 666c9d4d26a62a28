package plexuspeer

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bench/peers"
	"github.com/plexus-ipc/plexus/bench/peers/plexuspeer/plexusplugin"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
)

// Peer is the plexus peer.
var Peer = peers.Peer{
	Name:   "plexus",
	Label:  "plexus (shm)",
	Plugin: "github.com/plexus-ipc/plexus/bench/peers/cmd/plexus-plugin",
	Start:  start,
}

func start(ctx context.Context, path string) (peers.Conn, error) {
	c, err := host.New(host.Config{
		Path:     path,
		Name:     "plexus-plugin",
		Cookie:   plexusplugin.Cookie,
		Versions: map[uint32][]host.ServiceDesc{1: {plexusplugin.Desc()}},
		Logger:   hclog.NewNullLogger(),
	})
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return conn{c}, nil
}

type conn struct{ c *host.Client }

func (c conn) Echo(ctx context.Context, b []byte) ([]byte, error) {
	var resp plexus.Raw
	err := c.c.Invoke(ctx, plexusplugin.EchoID, plexus.Raw(b), &resp)
	return resp, err
}

func (c conn) Put(ctx context.Context, b []byte) (int, error) {
	var resp plexus.Raw
	if err := c.c.Invoke(ctx, plexusplugin.PutID, plexus.Raw(b), &resp); err != nil {
		return 0, err
	}
	if len(resp) != 8 {
		return 0, fmt.Errorf("put: response of %d bytes, want 8", len(resp))
	}
	return int(binary.LittleEndian.Uint64(resp)), nil
}

func (c conn) Blob(ctx context.Context, n int) ([]byte, error) {
	var resp plexus.Raw
	err := c.c.Invoke(ctx, plexusplugin.BlobID, plexusplugin.U64(uint64(n)), &resp)
	return resp, err
}

// BlobView is Blob with the answer as a view of the plugin's slot or blob
// (peers.Viewer): a lease, as a generated client's []byte results are
// under plexus.WithViews.
func (c conn) BlobView(ctx context.Context, n int) ([]byte, func(), error) {
	l := new(session.Lease)
	if err := c.c.Invoke(ctx, plexusplugin.BlobID, plexusplugin.U64(uint64(n)), l); err != nil {
		l.Release()
		return nil, nil, err
	}
	return l.Bytes(), l.Release, nil
}

func (c conn) Block(ctx context.Context) error {
	return c.c.Invoke(ctx, plexusplugin.BlockID, plexus.Raw(nil), nil)
}

func (c conn) Pid() int     { return c.c.Pid() }
func (c conn) Close() error { return c.c.Close() }
