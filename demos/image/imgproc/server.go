package imgproc

import (
	"context"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Server implements Processor in the plugin process: the image demo's and
// the web UI demo's plugins serve it (NewProcessorService(Server{})).
type Server struct{}

// Pipeline is the zero-copy path: req is a view of the host's lease in
// shared memory (valid until the response is sent), and the response is
// a lease of this side's link memory that the pipeline writes in place.
func (Server) Pipeline(ctx context.Context, in *session.Lease) (*session.Lease, error) {
	req, err := ParseRequest(in.Bytes())
	if err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "%v", err)
	}
	t := time.Now()
	// Allocated from the link the call came on, the lease crosses back
	// without a copy.
	out, err := session.FromContext(ctx).Alloc(ResponseSize(req.Width, req.Height))
	if err != nil {
		return nil, err
	}
	if err := Process(req, out.Bytes(), time.Since(t)); err != nil {
		return out, plexus.Errorf(plexus.Internal, "%v", err) // the generated code releases out
	}
	return out, nil
}

// PipelineCopy is the same work the ordinary way: the result is built in
// a []byte on the heap, which the generated code copies into the link.
func (Server) PipelineCopy(_ context.Context, b []byte) ([]byte, error) {
	req, err := ParseRequest(b)
	if err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "%v", err)
	}
	t := time.Now()
	out := make([]byte, ResponseSize(req.Width, req.Height))
	if err := Process(req, out, time.Since(t)); err != nil {
		return nil, plexus.Errorf(plexus.Internal, "%v", err)
	}
	return out, nil
}
