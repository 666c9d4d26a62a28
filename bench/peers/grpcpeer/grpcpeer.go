package grpcpeer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	"github.com/plexus-ipc/plexus/bench/peers"
	"github.com/plexus-ipc/plexus/bench/peers/goplugin"
)

// Handshake is go-plugin's handshake of this peer.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   peers.CookieEnv,
	MagicCookieValue: "grpc",
}

// codecName is the content-subtype of the raw codec.
const codecName = "peersraw"

// maxMsg is the message size limit on both sides: the largest blob plus
// room for framing.
const maxMsg = peers.MaxBlob + 1<<20

// rawCodec carries *[]byte messages as they are.
type rawCodec struct{}

func (rawCodec) Name() string { return codecName }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	p, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("peersraw: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*p)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("peersraw: cannot unmarshal into %T", v)
	}
	*p = data.Materialize()
	return nil
}

func init() { encoding.RegisterCodecV2(rawCodec{}) }

// benchServer is the service's handler type (grpc.ServiceDesc.HandlerType).
type benchServer interface{ bench() *peers.Impl }

type server struct{ impl *peers.Impl }

func (s server) bench() *peers.Impl { return s.impl }

const serviceName = "peers.Bench"

// unary adapts f to a grpc.MethodHandler with []byte request and response.
func unary(method string, f func(ctx context.Context, impl *peers.Impl, in []byte) ([]byte, error)) grpc.MethodDesc {
	full := "/" + serviceName + "/" + method
	return grpc.MethodDesc{MethodName: method, Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		var in []byte
		if err := dec(&in); err != nil {
			return nil, err
		}
		impl := srv.(benchServer).bench()
		call := func(ctx context.Context, req any) (any, error) {
			out, err := f(ctx, impl, *req.(*[]byte))
			if err != nil {
				return nil, err
			}
			return &out, nil
		}
		if icpt == nil {
			return call(ctx, &in)
		}
		return icpt(ctx, &in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, call)
	}}
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*benchServer)(nil),
	Methods: []grpc.MethodDesc{
		unary("Echo", func(_ context.Context, impl *peers.Impl, in []byte) ([]byte, error) {
			return impl.Echo(in), nil
		}),
		unary("Put", func(_ context.Context, impl *peers.Impl, in []byte) ([]byte, error) {
			n, err := impl.Put(in)
			return u64(uint64(n)), err
		}),
		unary("Blob", func(_ context.Context, impl *peers.Impl, in []byte) ([]byte, error) {
			if len(in) != 8 {
				return nil, fmt.Errorf("blob: request of %d bytes, want 8", len(in))
			}
			return impl.Blob(int(min(binary.LittleEndian.Uint64(in), peers.MaxBlob+1)))
		}),
		unary("Block", func(ctx context.Context, impl *peers.Impl, _ []byte) ([]byte, error) {
			return nil, impl.Block(ctx, nil)
		}),
	},
}

// Plugin is go-plugin's GRPCPlugin of this peer (net/rpc unsupported).
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl serves the calls (plugin side only).
	Impl *peers.Impl
}

// GRPCServer registers the service.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, server{p.Impl})
	return nil
}

// GRPCClient returns the host's Conn on cc (without process control, which
// start adds).
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return &conn{cc: cc}, nil
}

// Serve is the plugin binary's main.
func Serve() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{"bench": &Plugin{Impl: &peers.Impl{}}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))...)
		},
		Logger: hclog.NewNullLogger(),
	})
}

// Peer is the go-plugin gRPC peer.
var Peer = peers.Peer{
	Name:   "grpc",
	Label:  "go-plugin gRPC",
	Plugin: "github.com/plexus-ipc/plexus/bench/peers/cmd/grpc-plugin",
	Start:  start,
}

func start(ctx context.Context, path string) (peers.Conn, error) {
	p, raw, err := goplugin.Start(ctx, path, goplugin.Config{
		Handshake: Handshake,
		Plugin:    &Plugin{},
		Protocol:  plugin.ProtocolGRPC,
		Dial: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg))},
	})
	if err != nil {
		return nil, err
	}
	cn, err := goplugin.As[*conn](p, raw)
	if err != nil {
		return nil, err
	}
	cn.Process = p
	return cn, nil
}

// conn is the host's Conn: the gRPC connection go-plugin dialled and the
// process it started.
type conn struct {
	cc                *grpc.ClientConn
	*goplugin.Process // Pid and Close
}

var subtype = grpc.CallContentSubtype(codecName)

func (c *conn) invoke(ctx context.Context, method string, in []byte) ([]byte, error) {
	var out []byte
	if err := c.cc.Invoke(ctx, "/"+serviceName+"/"+method, &in, &out, subtype); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *conn) Echo(ctx context.Context, b []byte) ([]byte, error) { return c.invoke(ctx, "Echo", b) }

func (c *conn) Put(ctx context.Context, b []byte) (int, error) {
	out, err := c.invoke(ctx, "Put", b)
	if err != nil {
		return 0, err
	}
	if len(out) != 8 {
		return 0, fmt.Errorf("put: response of %d bytes, want 8", len(out))
	}
	return int(binary.LittleEndian.Uint64(out)), nil
}

func (c *conn) Blob(ctx context.Context, n int) ([]byte, error) {
	return c.invoke(ctx, "Blob", u64(uint64(n)))
}

func (c *conn) Block(ctx context.Context) error {
	_, err := c.invoke(ctx, "Block", nil)
	if err == nil {
		return errors.New("block: returned without an error")
	}
	return err
}
