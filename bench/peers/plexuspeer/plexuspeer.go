package plexuspeer

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bench/peers"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// Service is the service's name; Cookie the handshake cookie of host and
// plugin.
const (
	Service = "peers.Bench"
	Cookie  = "plexus-peers-v1"
)

var (
	echoID  = plexus.MethodID(Service, "Echo")
	putID   = plexus.MethodID(Service, "Put")
	blobID  = plexus.MethodID(Service, "Blob")
	blockID = plexus.MethodID(Service, "Block")
)

// Peer is the plexus peer.
var Peer = peers.Peer{
	Name:   "plexus",
	Label:  "plexus (shm)",
	Plugin: "github.com/plexus-ipc/plexus/bench/peers/cmd/plexus-plugin",
	Start:  start,
}

func u64(v uint64) plexus.Raw {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return plexus.Raw(b[:])
}

// service is the plugin's service; impl nil gives the description alone
// (the host's side).
func service(impl *peers.Impl) plugin.Service {
	return plugin.Service{Name: Service, Methods: []plugin.Method{
		{Name: "Echo", Unary: func(_ context.Context, req []byte) (plexus.Marshaler, error) {
			return plexus.Raw(impl.Echo(req)), nil
		}},
		{Name: "Put", Unary: func(_ context.Context, req []byte) (plexus.Marshaler, error) {
			n, err := impl.Put(req)
			if err != nil {
				return nil, err
			}
			return u64(uint64(n)), nil
		}},
		{Name: "Blob", Unary: func(_ context.Context, req []byte) (plexus.Marshaler, error) {
			if len(req) != 8 {
				return nil, fmt.Errorf("blob: request of %d bytes, want 8", len(req))
			}
			b, err := impl.Blob(int(min(binary.LittleEndian.Uint64(req), peers.MaxBlob+1)))
			if err != nil {
				return nil, err
			}
			return plexus.Raw(b), nil
		}},
		{Name: "Block", Unary: func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
			return nil, impl.Block(ctx, nil)
		}},
	}}
}

// Serve is the plugin binary's main: it serves the service to the host
// that started it and exits when the host closes the link.
func Serve() {
	plugin.Serve(plugin.ServeConfig{
		Cookie:   Cookie,
		Versions: map[uint32][]plugin.Service{1: {service(&peers.Impl{})}},
		Logger:   hclog.NewNullLogger(),
	})
}

func start(ctx context.Context, path string) (peers.Conn, error) {
	c, err := host.New(host.Config{
		Path:     path,
		Name:     "plexus-plugin",
		Cookie:   Cookie,
		Versions: map[uint32][]host.ServiceDesc{1: {service(nil).Desc()}},
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
	err := c.c.Invoke(ctx, echoID, plexus.Raw(b), &resp)
	return resp, err
}

func (c conn) Put(ctx context.Context, b []byte) (int, error) {
	var resp plexus.Raw
	if err := c.c.Invoke(ctx, putID, plexus.Raw(b), &resp); err != nil {
		return 0, err
	}
	if len(resp) != 8 {
		return 0, fmt.Errorf("put: response of %d bytes, want 8", len(resp))
	}
	return int(binary.LittleEndian.Uint64(resp)), nil
}

func (c conn) Blob(ctx context.Context, n int) ([]byte, error) {
	var resp plexus.Raw
	err := c.c.Invoke(ctx, blobID, u64(uint64(n)), &resp)
	return resp, err
}

// BlobView is Blob with the answer as a view of the plugin's slot or blob
// (peers.Viewer): a lease, as a generated client's []byte results are
// under plexus.WithViews.
func (c conn) BlobView(ctx context.Context, n int) ([]byte, func(), error) {
	l := new(session.Lease)
	if err := c.c.Invoke(ctx, blobID, u64(uint64(n)), l); err != nil {
		l.Release()
		return nil, nil, err
	}
	return l.Bytes(), l.Release, nil
}

func (c conn) Block(ctx context.Context) error {
	return c.c.Invoke(ctx, blockID, plexus.Raw(nil), nil)
}

func (c conn) Pid() int     { return c.c.Pid() }
func (c conn) Close() error { return c.c.Close() }
