package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// runListening serves hosts that attach to this plugin at cfg.Listen (see
// ServeConfig.Listen), each on a link of its own, until SIGTERM or SIGINT;
// then it stops listening, drains every link and returns nil.
func runListening(cfg ServeConfig) error {
	if err := cfg.withDefaults(); err != nil {
		return err
	}
	ln, err := listen(cfg.Listen, cfg.TLS != nil)
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(stop)
	if cfg.OnListen != nil {
		cfg.OnListen(ln.Addr())
	}
	cfg.Logger.Info("serving hosts that attach", "address", ln.Addr().String())
	a := &acceptor{cfg: &cfg, links: map[net.Conn]struct{}{}}
	done := make(chan error, 1)
	go func() { done <- a.accept(ln) }()
	select {
	case err = <-done:
	case sig := <-stop:
		cfg.Logger.Info("stopping: draining the links", "signal", sig.String())
		_ = ln.Close()
		<-done
		err = nil
	}
	a.drainAll()
	return err
}

// listen parses "unix:path" or "tcp:host:port" and listens there; TCP
// needs TLS.
func listen(addr string, withTLS bool) (net.Listener, error) {
	network, where, ok := strings.Cut(addr, ":")
	switch {
	case !ok || where == "":
		return nil, fmt.Errorf("plugin: ServeConfig.Listen %q is not unix:path or tcp:host:port", addr)
	case network == "tcp" && !withTLS:
		return nil, fmt.Errorf("plugin: ServeConfig.Listen %q is TCP, which needs ServeConfig.TLS", addr)
	case network != "unix" && network != "tcp":
		return nil, fmt.Errorf("plugin: ServeConfig.Listen %q is not unix:path or tcp:host:port", addr)
	}
	ln, err := net.Listen(network, where)
	if err != nil {
		return nil, fmt.Errorf("plugin: listen: %w", err)
	}
	return ln, nil
}

// acceptor runs the links of hosts that attached.
type acceptor struct {
	cfg *ServeConfig

	mu    sync.Mutex
	links map[net.Conn]struct{} // in the handshake or serving
	drain []func()              // drains a serving link
	wg    sync.WaitGroup
}

// accept accepts hosts until the listener is closed.
func (a *acceptor) accept(ln net.Listener) error {
	for {
		conn, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond) // out of descriptors, say: the next may succeed
				continue
			}
			return fmt.Errorf("plugin: accept: %w", err)
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.serve(conn)
		}()
	}
}

// serve runs one host's link: the handshake (a TLS connection's own
// handshake first, within the same bound), then its calls until the link
// ends.
func (a *acceptor) serve(conn net.Conn) {
	log := a.cfg.Logger.With("host", conn.RemoteAddr().String())
	if a.cfg.TLS != nil {
		conn = a.cfg.TLS(conn)
	}
	if hs, ok := conn.(stream.Handshaker); ok {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.HandshakeTimeout)
		err := hs.HandshakeContext(ctx)
		cancel()
		if err != nil {
			log.Warn("TLS handshake failed", "error", err)
			_ = conn.Close()
			return
		}
	}
	l, err := handshakeStream(conn, a.cfg)
	if err != nil {
		log.Warn("handshake failed", "error", err)
		return
	}
	s, closing, err := serveLink(a.cfg, l)
	if err != nil {
		log.Error("cannot serve the link", "error", err)
		return
	}
	a.mu.Lock()
	a.drain = append(a.drain, func() { drain(s) })
	a.mu.Unlock()
	log.Info("host attached", "version", l.version)
	<-s.Done()
	if closing.Load() || errors.Is(s.Err(), plexus.ErrLinkClosed) {
		log.Info("host closed the link")
	} else {
		log.Info("link to host ended", "error", s.Err())
	}
}

// drainAll drains the links still up and waits for every link to end.
func (a *acceptor) drainAll() {
	a.mu.Lock()
	ds := a.drain
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); d() }()
	}
	wg.Wait()
	a.wg.Wait()
}
