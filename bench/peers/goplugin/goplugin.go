package goplugin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// startTimeout bounds go-plugin's start when ctx has no deadline.
const startTimeout = 30 * time.Second

// Config is what differs between the peers.
type Config struct {
	Handshake plugin.HandshakeConfig
	Plugin    plugin.Plugin // dispensed as "bench"
	Protocol  plugin.Protocol
	Dial      []grpc.DialOption // gRPC only
}

// Process is a started plugin: go-plugin's client, which owns the process,
// and the directory of its socket.
type Process struct {
	client  *plugin.Client
	sockDir string
	pid     int
}

// Start runs the plugin binary at path and dispenses its "bench" plugin,
// returned as dispensed.
func Start(ctx context.Context, path string, cfg Config) (p *Process, dispensed any, err error) {
	// The plugin's socket goes into a directory of this Process's,
	// removed by Close: a plugin killed with SIGKILL cannot remove it
	// itself.
	sockDir, err := os.MkdirTemp("", "peers-goplugin-")
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(path)
	cmd.Env = []string{plugin.EnvUnixSocketDir + "=" + sockDir} // go-plugin adds the host's environment
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	timeout := startTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  cfg.Handshake,
		Plugins:          plugin.PluginSet{"bench": cfg.Plugin},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{cfg.Protocol},
		Logger:           hclog.NewNullLogger(),
		StartTimeout:     timeout,
		GRPCDialOptions:  cfg.Dial,
	})
	p = &Process{client: c, sockDir: sockDir}
	proto, err := c.Client()
	if err == nil {
		dispensed, err = proto.Dispense("bench")
	}
	if err != nil {
		_ = p.Close()
		return nil, nil, err
	}
	p.pid = c.ReattachConfig().Pid
	return p, dispensed, nil
}

// As returns dispensed as a T, or closes p and fails.
func As[T any](p *Process, dispensed any) (T, error) {
	v, ok := dispensed.(T)
	if !ok {
		_ = p.Close()
		return v, fmt.Errorf("dispensed %T", dispensed)
	}
	return v, nil
}

// Pid is the plugin's process ID.
func (p *Process) Pid() int { return p.pid }

// Close kills the plugin and removes its socket's directory.
func (p *Process) Close() error {
	p.client.Kill()
	return os.RemoveAll(p.sockDir)
}
