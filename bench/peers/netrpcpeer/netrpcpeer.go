package netrpcpeer

import (
	"context"
	"errors"
	"net/rpc"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/plexus-ipc/plexus/bench/peers"
	"github.com/plexus-ipc/plexus/bench/peers/goplugin"
)

// Handshake is go-plugin's handshake of this peer.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   peers.CookieEnv,
	MagicCookieValue: "netrpc",
}

// Server is the net/rpc receiver the plugin serves (go-plugin registers it
// under the name "Plugin").
type Server struct{ impl *peers.Impl }

// Echo answers with the request.
func (s *Server) Echo(in []byte, out *[]byte) error {
	*out = s.impl.Echo(in)
	return nil
}

// Put answers with the request's length once its pattern checked.
func (s *Server) Put(in []byte, out *int) error {
	n, err := s.impl.Put(in)
	*out = n
	return err
}

// Blob answers with n bytes of the pattern.
func (s *Server) Blob(n int, out *[]byte) error {
	b, err := s.impl.Blob(n)
	*out = b
	return err
}

// Block waits for peers.BlockBound and fails.
func (s *Server) Block(_ int, out *int) error {
	return s.impl.Block(context.Background(), nil)
}

// Plugin is go-plugin's (net/rpc) Plugin of this peer.
type Plugin struct {
	// Impl serves the calls (plugin side only).
	Impl *peers.Impl
}

// Server returns the net/rpc receiver.
func (p *Plugin) Server(*plugin.MuxBroker) (any, error) { return &Server{impl: p.Impl}, nil }

// Client returns the host's Conn on c (without process control, which
// start adds).
func (p *Plugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) {
	return &conn{rc: c}, nil
}

// Serve is the plugin binary's main.
func Serve() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{"bench": &Plugin{Impl: &peers.Impl{}}},
		Logger:          hclog.NewNullLogger(),
	})
}

// Peer is the go-plugin net/rpc peer.
var Peer = peers.Peer{
	Name:   "netrpc",
	Label:  "go-plugin net/rpc",
	Plugin: "github.com/plexus-ipc/plexus/bench/peers/cmd/netrpc-plugin",
	Start:  start,
}

func start(ctx context.Context, path string) (peers.Conn, error) {
	p, raw, err := goplugin.Start(ctx, path, goplugin.Config{
		Handshake: Handshake,
		Plugin:    &Plugin{},
		Protocol:  plugin.ProtocolNetRPC,
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

// conn is the host's Conn: go-plugin's rpc.Client and the process it
// started.
type conn struct {
	rc                *rpc.Client
	*goplugin.Process // Pid and Close
}

// call runs one net/rpc call, giving up (on the host's side) when ctx ends.
func (c *conn) call(ctx context.Context, method string, args, reply any) error {
	call := c.rc.Go("Plugin."+method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		return call.Error
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *conn) Echo(ctx context.Context, b []byte) ([]byte, error) {
	var out []byte
	err := c.call(ctx, "Echo", b, &out)
	return out, err
}

func (c *conn) Put(ctx context.Context, b []byte) (int, error) {
	var n int
	err := c.call(ctx, "Put", b, &n)
	return n, err
}

func (c *conn) Blob(ctx context.Context, n int) ([]byte, error) {
	var out []byte
	err := c.call(ctx, "Blob", n, &out)
	return out, err
}

func (c *conn) Block(ctx context.Context) error {
	var out int
	if err := c.call(ctx, "Block", 0, &out); err != nil {
		return err
	}
	return errors.New("block: returned without an error")
}
