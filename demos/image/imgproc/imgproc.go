package imgproc

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/plexus-ipc/plexus/session"
)

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Processor runs the image pipeline (grayscale, blur, half size) on a
// Request and answers a Response.
//
//plexus:service
type Processor interface {
	// Pipeline takes the request as a lease and answers a lease: on
	// shared memory neither is copied. The request is a view of the
	// caller's link memory while the handler runs; the response a view of
	// the handler's until the caller releases it.
	Pipeline(ctx context.Context, req *session.Lease) (*session.Lease, error)
	// PipelineCopy is the same with []byte messages, copied into the link
	// on each side and out of it on the caller's, for comparison.
	PipelineCopy(ctx context.Context, req []byte) ([]byte, error)
}

// Message layout (little-endian):
//
//	Request:  width u32, height u32, blur radius u32, zero u32,
//	          then width*height RGBA pixels (4 bytes each, rows top down)
//	Response: width u32, height u32 (of the source),
//	          then four u64 durations in ns (the plugin's lease allocation,
//	          grayscale, blur, resize),
//	          then the grayscale image (width*height bytes),
//	          the blurred image (width*height RGBA),
//	          the half-size image ((width/2)*(height/2) RGBA).
const (
	RequestHeader  = 16
	ResponseHeader = 40
	// MaxSide bounds width and height, so that sizes cannot overflow and
	// a hostile header cannot ask for absurd buffers.
	MaxSide   = 1 << 14
	MaxRadius = 64
)

// RequestSize is the size of a request for a width x height image.
func RequestSize(width, height int) int { return RequestHeader + width*height*4 }

// ResponseSize is the size of the response to a width x height image.
func ResponseSize(width, height int) int {
	return ResponseHeader + width*height + width*height*4 + (width/2)*(height/2)*4
}

// Request is a parsed request; Pix is a view of the message.
type Request struct {
	Width, Height, Radius int
	Pix                   []byte
}

// PutRequestHeader writes a request's header into b[:RequestHeader].
func PutRequestHeader(b []byte, width, height, radius int) {
	binary.LittleEndian.PutUint32(b[0:], uint32(width))
	binary.LittleEndian.PutUint32(b[4:], uint32(height))
	binary.LittleEndian.PutUint32(b[8:], uint32(radius))
	binary.LittleEndian.PutUint32(b[12:], 0)
}

func side(b []byte) (int, int, error) {
	w, h := binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint32(b[4:])
	if w < 2 || h < 2 || w > MaxSide || h > MaxSide {
		return 0, 0, fmt.Errorf("imgproc: image of %dx%d pixels (each side 2..%d)", w, h, MaxSide)
	}
	return int(w), int(h), nil
}

// ParseRequest checks a received request (peer input) and returns views
// of it.
func ParseRequest(b []byte) (Request, error) {
	if len(b) < RequestHeader {
		return Request{}, fmt.Errorf("imgproc: request of %d bytes, shorter than its header", len(b))
	}
	w, h, err := side(b)
	if err != nil {
		return Request{}, err
	}
	r := binary.LittleEndian.Uint32(b[8:])
	if r > MaxRadius || binary.LittleEndian.Uint32(b[12:]) != 0 {
		return Request{}, fmt.Errorf("imgproc: blur radius %d (at most %d) or reserved field not zero", r, MaxRadius)
	}
	if len(b) != RequestSize(w, h) {
		return Request{}, fmt.Errorf("imgproc: request of %d bytes for a %dx%d image, want %d", len(b), w, h, RequestSize(w, h))
	}
	return Request{Width: w, Height: h, Radius: int(r), Pix: b[RequestHeader:]}, nil
}

// Response is a parsed response; the images are views of the message.
type Response struct {
	Width, Height              int
	Alloc, Gray, Blur, Resize  time.Duration
	GrayPix, BlurPix, SmallPix []byte
}

// ParseResponse checks a received response (peer input) and returns views
// of it.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < ResponseHeader {
		return Response{}, fmt.Errorf("imgproc: response of %d bytes, shorter than its header", len(b))
	}
	w, h, err := side(b)
	if err != nil {
		return Response{}, err
	}
	if len(b) != ResponseSize(w, h) {
		return Response{}, fmt.Errorf("imgproc: response of %d bytes for a %dx%d image, want %d", len(b), w, h, ResponseSize(w, h))
	}
	d := func(off int) time.Duration { return time.Duration(binary.LittleEndian.Uint64(b[off:]) & (1<<63 - 1)) }
	r := Response{Width: w, Height: h, Alloc: d(8), Gray: d(16), Blur: d(24), Resize: d(32)}
	p := b[ResponseHeader:]
	r.GrayPix, p = p[:w*h:w*h], p[w*h:]
	r.BlurPix, p = p[:w*h*4:w*h*4], p[w*h*4:]
	r.SmallPix = p
	return r, nil
}

// Process runs the pipeline on req and writes the response into out
// (ResponseSize bytes): grayscale of the source, blur of the source,
// and the blurred image resized to half. Each stage reads its input
// where it lies and writes its output in place into out; alloc is the
// time the caller took to get out, reported in the header.
func Process(req Request, out []byte, alloc time.Duration) error {
	w, h := req.Width, req.Height
	if len(out) != ResponseSize(w, h) || len(req.Pix) != w*h*4 {
		return fmt.Errorf("imgproc: buffers of %d and %d bytes for a %dx%d image", len(req.Pix), len(out), w, h)
	}
	binary.LittleEndian.PutUint32(out[0:], uint32(w))
	binary.LittleEndian.PutUint32(out[4:], uint32(h))
	p := out[ResponseHeader:]
	gray, p := p[:w*h], p[w*h:]
	blur, small := p[:w*h*4], p[w*h*4:]

	t := time.Now()
	Grayscale(gray, req.Pix)
	tGray := time.Since(t)
	t = time.Now()
	BoxBlur(blur, req.Pix, w, h, req.Radius)
	tBlur := time.Since(t)
	t = time.Now()
	Halve(small, blur, w, h)
	tResize := time.Since(t)
	for i, d := range []time.Duration{alloc, tGray, tBlur, tResize} {
		binary.LittleEndian.PutUint64(out[8+8*i:], uint64(d))
	}
	return nil
}
