//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"io"
	"sync"

	"github.com/plexus-ipc/plexus/demos/streaming/feed"
	"github.com/plexus-ipc/plexus/plugin"
)

// server implements feed.Feed in the plugin process.
type server struct {
	mu   sync.Mutex
	sent map[string]int
}

var _ feed.Feed = (*server)(nil)

func (s *server) Produce(ctx context.Context, name string, n, size int, send func([]byte) error) error {
	msg := make([]byte, max(size, 8))
	for i := range n {
		// The sequence number lets the host check order; send copies
		// the message into the link, so msg can be reused.
		binary.LittleEndian.PutUint64(msg, uint64(i))
		if err := send(msg); err != nil {
			return err
		}
		s.mu.Lock()
		s.sent[name]++
		s.mu.Unlock()
	}
	return nil
}

func (s *server) Sent(_ context.Context, name string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[name], nil
}

func (s *server) Consume(_ context.Context, recv func() ([]byte, error)) (int, int64, error) {
	n, bytes := 0, int64(0)
	for {
		m, err := recv()
		if err == io.EOF {
			return n, bytes, nil
		}
		if err != nil {
			return 0, 0, err
		}
		n++
		bytes += int64(len(m))
	}
}

func (s *server) Echo(_ context.Context, recv func() ([]byte, error), send func([]byte) error) error {
	for {
		m, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := send(m); err != nil {
			return err
		}
	}
}

func pluginConfig() plugin.ServeConfig {
	impl := &server{sent: map[string]int{}}
	return plugin.ServeConfig{
		Cookie: cookie,
		Versions: map[uint32][]plugin.Service{
			1: {feed.NewFeedService(impl)},
		},
	}
}
