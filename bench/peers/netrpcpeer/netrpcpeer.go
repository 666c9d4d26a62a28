package netrpcpeer

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/plexus-ipc/plexus/bench/peers"
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

// startTimeout bounds go-plugin's start when ctx has no deadline.
const startTimeout = 30 * time.Second

func start(ctx context.Context, path string) (peers.Conn, error) {
	// The plugin's socket goes into a directory of this Conn's, removed
	// by Close: a plugin killed with SIGKILL cannot remove it itself.
	sockDir, err := os.MkdirTemp("", "peers-goplugin-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path)
	cmd.Env = []string{plugin.EnvUnixSocketDir + "=" + sockDir} // go-plugin adds the host's environment
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	timeout := startTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{"bench": &Plugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		Logger:           hclog.NewNullLogger(),
		StartTimeout:     timeout,
	})
	fail := func(err error) (peers.Conn, error) {
		c.Kill()
		_ = os.RemoveAll(sockDir)
		return nil, err
	}
	proto, err := c.Client()
	if err != nil {
		return fail(err)
	}
	raw, err := proto.Dispense("bench")
	if err != nil {
		return fail(err)
	}
	cn, ok := raw.(*conn)
	if !ok {
		return fail(fmt.Errorf("dispensed %T", raw))
	}
	cn.client, cn.sockDir = c, sockDir
	cn.pid = c.ReattachConfig().Pid
	return cn, nil
}

// conn is the host's Conn: go-plugin's rpc.Client and the go-plugin client
// that owns the process.
type conn struct {
	rc      *rpc.Client
	client  *plugin.Client
	pid     int
	sockDir string // the plugin's socket's directory
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

func (c *conn) Pid() int { return c.pid }

func (c *conn) Close() error {
	c.client.Kill()
	return os.RemoveAll(c.sockDir)
}
