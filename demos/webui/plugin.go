//go:build linux

package main

import (
	"context"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/demos/image/imgproc"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/session"
)

// processor implements imgproc.Processor in the plugin process: the image
// demo's plugin (demos/image/plugin.go), copied so that this demo is one
// program of its own.
type processor struct{}

// Pipeline reads the request where it lies in the host's lease and writes
// the response in place into a lease of this side's link memory.
func (processor) Pipeline(ctx context.Context, in *session.Lease) (*session.Lease, error) {
	req, err := imgproc.ParseRequest(in.Bytes())
	if err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "%v", err)
	}
	t := time.Now()
	out, err := session.FromContext(ctx).Alloc(imgproc.ResponseSize(req.Width, req.Height))
	if err != nil {
		return nil, err
	}
	if err := imgproc.Process(req, out.Bytes(), time.Since(t)); err != nil {
		return out, plexus.Errorf(plexus.Internal, "%v", err) // the generated code releases out
	}
	return out, nil
}

// PipelineCopy is the same with []byte messages; this demo does not call
// it, but the service has it.
func (processor) PipelineCopy(_ context.Context, b []byte) ([]byte, error) {
	req, err := imgproc.ParseRequest(b)
	if err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "%v", err)
	}
	t := time.Now()
	out := make([]byte, imgproc.ResponseSize(req.Width, req.Height))
	if err := imgproc.Process(req, out, time.Since(t)); err != nil {
		return nil, plexus.Errorf(plexus.Internal, "%v", err)
	}
	return out, nil
}

func pluginConfig() plugin.ServeConfig {
	return plugin.ServeConfig{
		Cookie: cookie,
		Versions: map[uint32][]plugin.Service{
			1: {imgproc.NewProcessorService(processor{})},
		},
	}
}
