package host

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// attachInstance links to a plugin that is already running at
// Config.Attach: it connects (TLS over TCP), runs the handshake as
// length-prefixed messages on the connection (as the socket link does),
// and starts the session over the stream transport. The instance has no
// process: its exited channel is closed when the link ends.
func attachInstance(ctx context.Context, cfg *Config) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	a := cfg.Attach
	addr := a.Network + ":" + a.Address
	prefix := fmt.Sprintf("host: %s: attach to %s", cfg.Name, addr)
	conn, err := dialAttach(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, plexus.WithCause(plexus.Unavailable, err, err.Error()))
	}
	reply, herr := hostHandshake(ctx, cfg, handshake.Frames(conn))
	if herr != nil {
		_ = conn.Close()
		if herr.err == nil || plexus.CodeOf(herr.err) == plexus.DeadlineExceeded {
			return nil, fmt.Errorf("%s: %w; the plugin did not answer the handshake within Config.StartTimeout (%v)",
				prefix, plexus.Errorf(plexus.DeadlineExceeded, "handshake: the peer did not answer in time"), cfg.StartTimeout)
		}
		return nil, fmt.Errorf("%s: %w", prefix, herr.err)
	}
	log := cfg.Logger.Named(cfg.Name)
	in := &instance{name: cfg.Name, addr: addr, log: log, exited: make(chan struct{}),
		started: time.Now(), version: reply.Version}
	in.tr = stream.New(conn, stream.Config{MaxPayload: cfg.MaxPayload})
	in.sess = newSession(cfg, in.tr, reply.Version, log)
	go func() {
		<-in.sess.Done()
		close(in.exited)
	}()
	log.Debug("attached to plugin", "address", addr, "version", reply.Version)
	return in, nil
}

// dialAttach connects to the plugin's address and, with Attach.TLS,
// completes the TLS handshake, all within ctx.
func dialAttach(ctx context.Context, a *Attach) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, a.Network, a.Address)
	if err != nil || a.TLS == nil {
		return conn, err
	}
	cfg := a.TLS
	if cfg.ServerName == "" && a.Network != "unix" {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(a.Address); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return tc, nil
}
