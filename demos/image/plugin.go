//go:build linux

package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/demos/image/imgproc"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// link is the plugin's session, from which it allocates response leases.
var link atomic.Pointer[session.Session]

// pipeline is the zero-copy handler: req is a view of the host's lease in
// shared memory (valid until the response is sent), and the response is a
// lease of this side's link memory that the pipeline writes in place.
func pipeline(_ context.Context, b []byte) (plexus.Marshaler, error) {
	req, err := imgproc.ParseRequest(b)
	if err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "%v", err)
	}
	s := link.Load()
	if s == nil {
		return nil, plexus.Errorf(plexus.Unavailable, "imgproc: the link is not up yet")
	}
	t := time.Now()
	out, err := s.Alloc(imgproc.ResponseSize(req.Width, req.Height))
	if err != nil {
		return nil, err
	}
	if err := imgproc.Process(req, out.Bytes(), time.Since(t)); err != nil {
		out.Release()
		return nil, plexus.Errorf(plexus.Internal, "%v", err)
	}
	// Returned as a whole message without metadata, the lease crosses
	// without a copy (see session.Lease).
	return out, nil
}

// pipelineCopy is the same work the ordinary way: the result is built in
// a []byte on the heap, which the session copies into the link.
func pipelineCopy(_ context.Context, b []byte) (plexus.Marshaler, error) {
	req, err := imgproc.ParseRequest(b)
	if err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "%v", err)
	}
	t := time.Now()
	out := make([]byte, imgproc.ResponseSize(req.Width, req.Height))
	if err := imgproc.Process(req, out, time.Since(t)); err != nil {
		return nil, plexus.Errorf(plexus.Internal, "%v", err)
	}
	return plexus.Raw(out), nil
}

func pluginConfig() plugin.ServeConfig {
	return plugin.ServeConfig{
		Cookie: cookie,
		Versions: map[uint32][]plugin.Service{1: {{
			Name: imgproc.Service,
			Methods: []plugin.Method{
				{Name: "Pipeline", Signature: imgproc.Desc.Methods[0].Signature, Unary: pipeline},
				{Name: "PipelineCopy", Signature: imgproc.Desc.Methods[1].Signature, Unary: pipelineCopy},
			},
		}}},
		OnLink: func(host session.Conn, _ uint32) {
			link.Store(host.(*session.Session))
		},
	}
}
