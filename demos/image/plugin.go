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

// processor implements imgproc.Processor in the plugin process.
type processor struct{}

// Pipeline is the zero-copy path: req is a view of the host's lease in
// shared memory (valid until the response is sent), and the response is
// a lease of this side's link memory that the pipeline writes in place.
func (processor) Pipeline(ctx context.Context, in *session.Lease) (*session.Lease, error) {
	req, err := imgproc.ParseRequest(in.Bytes())
	if err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "%v", err)
	}
	t := time.Now()
	// Allocated from the link the call came on, the lease crosses back
	// without a copy.
	out, err := session.FromContext(ctx).Alloc(imgproc.ResponseSize(req.Width, req.Height))
	if err != nil {
		return nil, err
	}
	if err := imgproc.Process(req, out.Bytes(), time.Since(t)); err != nil {
		return out, plexus.Errorf(plexus.Internal, "%v", err) // the generated code releases out
	}
	return out, nil
}

// PipelineCopy is the same work the ordinary way: the result is built in
// a []byte on the heap, which the generated code copies into the link.
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
