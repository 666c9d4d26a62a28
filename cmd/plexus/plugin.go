package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	shmt "github.com/plexus-ipc/plexus/transport/shm"
	"github.com/plexus-ipc/plexus/transport/stream"
)

// pluginEnv marks a re-executed binary as a bench plugin even if its
// arguments were rewritten (a test binary, for instance).
const pluginEnv = "PLEXUS_BENCH_PLUGIN"

const service = "bench.Bench"

var (
	echoID  = plexus.MethodID(service, "Echo")
	sinkID  = plexus.MethodID(service, "Sink")
	blobID  = plexus.MethodID(service, "Blob")
	blockID = plexus.MethodID(service, "Block")
)

// benchMux is the plugin's service.
func benchMux() (*session.Mux, error) {
	m := session.NewMux()
	if _, err := m.HandleUnary(service, "Echo", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		return plexus.Raw(req), nil
	}); err != nil {
		return nil, err
	}
	if _, err := m.HandleStream(service, "Sink", func(_ context.Context, st *session.Stream) error {
		var n uint64
		var msg plexus.Raw
		for {
			err := st.Recv(&msg)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			n++
		}
		var out [8]byte
		binary.LittleEndian.PutUint64(out[:], n)
		return st.Send(plexus.Raw(out[:]))
	}); err != nil {
		return nil, err
	}
	if _, err := m.HandleUnary(service, "Blob", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		var out [8]byte
		binary.LittleEndian.PutUint64(out[:], uint64(len(req)))
		return plexus.Raw(out[:]), nil
	}); err != nil {
		return nil, err
	}
	if _, err := m.HandleUnary(service, "Block", func(ctx context.Context, _ []byte) (plexus.Marshaler, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}); err != nil {
		return nil, err
	}
	return m, nil
}

// pluginMain is the hidden "bench-plugin" subcommand: it serves benchMux
// over the inherited link until the session ends.
func pluginMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-plugin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("transport", "shm", "shm or stream")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var tr plexus.Transport
	switch *kind {
	case "shm":
		t, err := shmt.OpenInherited(3, shm.Config{}, shmt.Config{})
		if err != nil {
			fmt.Fprintf(stderr, "bench-plugin: %v\n", err)
			return 1
		}
		tr = t
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
