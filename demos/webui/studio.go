//go:build linux

package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/demos/image/imgproc"
	"github.com/plexus-ipc/plexus/demos/webui/studio"
	"github.com/plexus-ipc/plexus/host"
)

// MaxSide bounds the picture a browser may ask for: its half-size PNG
// must fit in one frame of the WebSocket link, and the plugin's memory is
// not the page's to spend.
const MaxSide = 2048

// studioServer implements studio.Studio on the host: the pipeline runs in
// the plugin, over shared memory with leases, as in the image demo.
type studioServer struct {
	client *host.Client
	proc   *imgproc.ProcessorClient
	ran    func() // called after each Run that succeeded
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s *studioServer) Run(ctx context.Context, w, h, radius int, send func(studio.Step) error) error {
	if w < 2 || h < 2 || w > MaxSide || h > MaxSide || radius < 0 || radius > imgproc.MaxRadius {
		return plexus.Errorf(plexus.InvalidArgument, "Run(%d, %d, %d): want sides 2..%d and radius 0..%d",
			w, h, radius, MaxSide, imgproc.MaxRadius)
	}
	// A lease crosses without a copy on the link it was allocated from:
	// the session the client's calls go to.
	sess := s.client.Session()
	if sess == nil {
		return plexus.Errorf(plexus.Unavailable, "the image plugin is not running")
	}
	start := time.Now()
	t := start
	req, err := sess.Alloc(imgproc.RequestSize(w, h))
	if err != nil {
		return err
	}
	b := req.Bytes()
	imgproc.PutRequestHeader(b, w, h, radius)
	imgproc.Draw(b[imgproc.RequestHeader:], w, h)
	if err := send(studio.Step{Stage: studio.StageDraw, Millis: ms(time.Since(t))}); err != nil {
		req.Release()
		return err
	}

	// The client takes the lease over and sends it; the response is a
	// view of the plugin's link memory until Release.
	resp, err := s.proc.Pipeline(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Release()
	r, err := imgproc.ParseResponse(resp.Bytes())
	if err != nil {
		return plexus.Errorf(plexus.Internal, "%v", err)
	}
	for _, st := range []studio.Step{
		{Stage: studio.StageGray, Millis: ms(r.Gray)},
		{Stage: studio.StageBlur, Millis: ms(r.Blur)},
		{Stage: studio.StageHalve, Millis: ms(r.Resize)},
	} {
		if err := send(st); err != nil {
			return err
		}
	}

	// Encoded straight from the plugin's lease.
	t = time.Now()
	var buf bytes.Buffer
	small := &image.RGBA{Pix: r.SmallPix, Stride: 4 * (w / 2), Rect: image.Rect(0, 0, w/2, h/2)}
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, small); err != nil {
		return plexus.Errorf(plexus.Internal, "encoding the PNG: %v", err)
	}
	if err := send(studio.Step{Stage: studio.StageEncode, Millis: ms(time.Since(t))}); err != nil {
		return err
	}
	if err := send(studio.Step{Stage: studio.StageDone, Millis: ms(time.Since(start)), PNG: buf.Bytes()}); err != nil {
		return err
	}
	if s.ran != nil {
		s.ran()
	}
	return nil
}
