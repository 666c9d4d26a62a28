package plexusplugin

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/bench/peers"
	"github.com/plexus-ipc/plexus/plugin"
)

// Service is the service's name; Cookie the handshake cookie of host and
// plugin.
const (
	Service = "peers.Bench"
	Cookie  = "plexus-peers-v1"
)

// The methods' IDs, for the host's calls.
var (
	EchoID  = plexus.MethodID(Service, "Echo")
	PutID   = plexus.MethodID(Service, "Put")
	BlobID  = plexus.MethodID(Service, "Blob")
	BlockID = plexus.MethodID(Service, "Block")
)

// U64 is v as the 8 little-endian bytes the service's requests and
// responses carry.
func U64(v uint64) plexus.Raw {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return plexus.Raw(b[:])
}

// Desc is the service's description, for the host's side.
func Desc() plexus.ServiceDesc { return service(nil).Desc() }

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
			return U64(uint64(n)), nil
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
