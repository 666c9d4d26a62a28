package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// Listener is where a plugin serves hosts that attach to it
// (ServeConfig.Listener). Package plugin/pluginnet makes one over a Unix
// socket or TCP with TLS; it is an interface here so that package plugin
// does not link package net (see ServeConfig.Listener).
type Listener interface {
	// Accept waits for the next host's connection and names its peer
	// (for the log). After Close it returns ErrListenerClosed; an error
	// with a Timeout method that reports true (out of descriptors, say)
	// is retried after a pause; any other ends the listening.
	Accept() (conn stream.Conn, peer string, err error)
	// Close stops listening; links already accepted are unaffected.
	Close() error
	// Addr names where it listens, for the log.
	Addr() string
}

// ErrListenerClosed is what a Listener's Accept returns once it is
// closed.
var ErrListenerClosed = errors.New("plugin: listener closed")

// runListening serves hosts that attach to this plugin at cfg.Listener
// (see ServeConfig.Listener), each on a link of its own, until SIGTERM or
// SIGINT; then it stops listening, drains every link and returns nil.
func runListening(cfg ServeConfig) error {
	ln := cfg.Listener
	if err := cfg.withDefaults(); err != nil {
		_ = ln.Close()
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(stop)
	if err := askTimeSlice(&cfg); err != nil {
		cfg.Logger.Debug("could not set the threads' time slice", "error", err)
	}
	cfg.Logger.Info("serving hosts that attach", "address", ln.Addr())
	a := &acceptor{cfg: &cfg}
	done := make(chan error, 1)
	go func() { done <- a.accept(ln) }()
	var err error
	select {
	case err = <-done:
		_ = ln.Close()
	case sig := <-stop:
		cfg.Logger.Info("stopping: draining the links", "signal", sig.String())
		_ = ln.Close()
		<-done
		err = nil
	}
	a.drainAll()
	return err
}

// acceptor runs the links of hosts that attached.
type acceptor struct {
	cfg *ServeConfig

	mu    sync.Mutex
	drain []func() // drains a serving link
	wg    sync.WaitGroup
}

// accept accepts hosts until the listener is closed.
func (a *acceptor) accept(ln Listener) error {
	for {
		conn, peer, err := ln.Accept()
		if errors.Is(err, ErrListenerClosed) {
			return nil
		}
		if err != nil {
			var te interface{ Timeout() bool }
			if errors.As(err, &te) && te.Timeout() {
				time.Sleep(10 * time.Millisecond) // out of descriptors, say: the next may succeed
				continue
			}
			return fmt.Errorf("plugin: accept: %w", err)
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.serve(conn, peer)
		}()
	}
}

// serve runs one host's link: the handshake (a TLS connection's own
// handshake first, within the same bound), then its calls until the link
// ends.
func (a *acceptor) serve(conn stream.Conn, peer string) {
	log := a.cfg.Logger.With("host", peer)
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
