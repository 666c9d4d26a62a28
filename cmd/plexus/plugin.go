//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/benchsvc"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/stream"
)

const service = "bench.Bench"

// benchCookie is the handshake cookie between plexus bench and its plugin.
const benchCookie = "plexus-bench-v1"

var (
	echoID  = plexus.MethodID(service, "Echo")
	sinkID  = plexus.MethodID(service, "Sink")
	blobID  = plexus.MethodID(service, "Blob")
	blockID = plexus.MethodID(service, "Block")
)

// benchService is the plugin's service.
func benchService() plugin.Service {
	return plugin.Service{Name: service, Methods: []plugin.Method{
		{Name: "Echo", Unary: func(_ context.Context, req []byte) (plexus.Marshaler, error) {
			return plexus.Raw(req), nil
		}},
		{Name: "Sink", Stream: benchsvc.Sink},
		{Name: "Blob", Unary: benchsvc.Size},
		{Name: "Block", Unary: func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	}}
}

// benchMux serves benchService on a session of its own (the stream
// transport's plugin, which has no handshake).
func benchMux() (*session.Mux, error) {
	m := session.NewMux()
	svc := benchService()
	for _, meth := range svc.Methods {
		var err error
		if meth.Unary != nil {
			_, err = m.HandleUnary(svc.Name, meth.Name, meth.Unary)
		} else {
			_, err = m.HandleStream(svc.Name, meth.Name, meth.Stream)
		}
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// pluginMain is the hidden "bench-plugin" subcommand: it serves benchMux
// over the inherited link until the session ends.
func pluginMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-plugin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("transport", "shm", "shm or stream")
	busMode := fs.String("bus", "", "subscribe to the host's bus: fan, queue or big (shm only)")
	name := fs.String("name", "", "the plugin's name in its bus reports")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *busMode != "" {
		if err := busPlugin(*busMode, *name); err != nil {
			fmt.Fprintf(stderr, "bench-plugin: %v\n", err)
			return 1
		}
		return 0
	}
	var tr transport.Transport
	switch *kind {
	case "shm":
		// The real plugin path: handshake, segment, session (plugin.Run).
		err := plugin.Run(plugin.ServeConfig{Cookie: benchCookie,
			Versions: map[uint32][]plugin.Service{1: {benchService()}},
			Logger:   hclog.NewNullLogger()})
		if err != nil {
			fmt.Fprintf(stderr, "bench-plugin: %v\n", err)
			return 1
		}
		return 0
	case "stream":
		f := os.NewFile(3, "bench-stream")
		if f == nil {
			fmt.Fprintln(stderr, "bench-plugin: no fd 3")
			return 1
		}
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "bench-plugin: %v\n", err)
			return 1
		}
		tr = stream.New(c, stream.Config{})
	default:
		fmt.Fprintf(stderr, "bench-plugin: unknown transport %q\n", *kind)
		return 2
	}
	mux, err := benchMux()
	if err != nil {
		fmt.Fprintf(stderr, "bench-plugin: %v\n", err)
		return 1
	}
	s := session.New(tr, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	<-s.Done()
	return 0
}
