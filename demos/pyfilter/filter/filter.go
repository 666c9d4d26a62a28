// Package filter is the pyfilter demo's service: the Filter interface,
// from which plexus gen writes the Go client (filter_plexus.go) and, with
// -python, the Python base class the plugin implements
// (filter_plexus.py), and Impl, the same filters in Go (the benchmarks'
// Go plugin, and the reference the demo's test compares with).
//
// Images are RGBA, 4 bytes a pixel, rows without padding. Tiles are
// bands of whole rows: a tile's first 4 bytes are its first row
// (little-endian), then its pixels.
package filter

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/plexus-ipc/plexus/session"
)

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen -python .

// Filter filters images with one of the operations Ops.
//
//plexus:service name=pyfilter.Filter
type Filter interface {
	// Apply filters a whole image (a view of shared memory in the
	// handler) and returns the result.
	Apply(ctx context.Context, op string, width, height int, pixels []byte) ([]byte, error)
	// Progress filters the image in bands and sends the percentage done
	// after each band, then the checksum of the result.
	Progress(ctx context.Context, op string, width, height int, pixels []byte, send func(uint64) error) error
	// Tiles filters the tiles the caller streams and returns how many it
	// got and the checksum of the filtered bytes.
	Tiles(ctx context.Context, op string, width int, recv func() ([]byte, error)) (n int, sum uint64, err error)
	// Stream answers each tile the caller streams with the filtered tile.
	Stream(ctx context.Context, op string, width int, recv func() ([]byte, error), send func([]byte) error) error
	// Checksum reads data in place and returns its Checksum.
	Checksum(ctx context.Context, data []byte) (uint64, error)
	// Touch reads the first and the last byte of data, a lease (the
	// request itself, crossing without a copy), and returns its length
	// plus those two bytes: how soon a large argument is readable.
	Touch(ctx context.Context, data *session.Lease) (uint64, error)
	// Add is the smallest call, for round-trip timings.
	Add(ctx context.Context, a, b int64) (int64, error)
	// Note is a notification: the plugin logs it.
	//
	//plexus:notify
	Note(ctx context.Context, text string) error
}

// Ops are the operations.
var Ops = []string{"invert", "grayscale", "blur"}

// Checksum is the checksum both plugins compute: the sum, modulo 2^64, of
// b's little-endian 64-bit words, then of its last len(b)%8 bytes.
func Checksum(b []byte) uint64 {
	var s uint64
	for len(b) >= 8 {
		s += binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		s += uint64(c)
	}
	return s
}

// Apply applies op to the width x height RGBA image src into a new slice.
func Apply(op string, width, height int, src []byte) ([]byte, error) {
	if width <= 0 || height <= 0 || len(src) != width*height*4 {
		return nil, fmt.Errorf("filter: %d bytes are not a %dx%d RGBA image", len(src), width, height)
	}
	dst := make([]byte, len(src))
	switch op {
	case "invert":
		for i := 0; i < len(src); i += 4 {
			dst[i], dst[i+1], dst[i+2], dst[i+3] = 255-src[i], 255-src[i+1], 255-src[i+2], src[i+3]
		}
	case "grayscale":
		for i := 0; i < len(src); i += 4 {
			y := byte((299*uint32(src[i]) + 587*uint32(src[i+1]) + 114*uint32(src[i+2])) / 1000)
			dst[i], dst[i+1], dst[i+2], dst[i+3] = y, y, y, src[i+3]
		}
	case "blur":
		blur(dst, src, width, height)
	default:
		return nil, fmt.Errorf("filter: unknown operation %q (known: %v)", op, Ops)
	}
	return dst, nil
}

// blur is a 3x3 box blur of each channel, edges clamped (integer
// division, as the plugin computes it).
func blur(dst, src []byte, w, h int) {
	for y := range h {
		for x := range w {
			for c := range 4 {
				s := 0
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						yy, xx := min(max(y+dy, 0), h-1), min(max(x+dx, 0), w-1)
						s += int(src[(yy*w+xx)*4+c])
					}
				}
				dst[(y*w+x)*4+c] = byte(s / 9)
			}
		}
	}
}

// Impl is Filter in Go.
type Impl struct{}

var _ Filter = Impl{}

func (Impl) Apply(ctx context.Context, op string, width, height int, pixels []byte) ([]byte, error) {
	return Apply(op, width, height, pixels)
}

func (Impl) Progress(ctx context.Context, op string, width, height int, pixels []byte, send func(uint64) error) error {
	out, err := Apply(op, width, height, pixels)
	if err != nil {
		return err
	}
	for p := uint64(10); p <= 100; p += 10 {
		if err := send(p); err != nil {
			return err
		}
	}
	return send(Checksum(out))
}

// tileRows splits a tile into its first row and pixels.
func tileRows(t []byte, width int) (int, []byte, error) {
	if len(t) < 4 || (len(t)-4)%(width*4) != 0 {
		return 0, nil, fmt.Errorf("filter: a tile of %d bytes is not whole rows of %d pixels", len(t), width)
	}
	return int(binary.LittleEndian.Uint32(t)), t[4:], nil
}

// FilterTile filters one tile (as a band of its own: blur clamps at the
// tile's edges) and returns the filtered tile, with its header.
func FilterTile(op string, width int, t []byte) ([]byte, error) {
	row, px, err := tileRows(t, width)
	if err != nil {
		return nil, err
	}
	out, err := Apply(op, width, len(px)/(width*4), px)
	if err != nil {
		return nil, err
	}
	return append(binary.LittleEndian.AppendUint32(nil, uint32(row)), out...), nil
}

func (Impl) Tiles(ctx context.Context, op string, width int, recv func() ([]byte, error)) (int, uint64, error) {
	n, sum := 0, uint64(0)
	for {
		t, err := recv()
		if err == io.EOF {
			return n, sum, nil
		}
		if err != nil {
			return 0, 0, err
		}
		out, err := FilterTile(op, width, t)
		if err != nil {
			return 0, 0, err
		}
		n++
		sum += Checksum(out[4:])
	}
}

func (Impl) Stream(ctx context.Context, op string, width int, recv func() ([]byte, error), send func([]byte) error) error {
	for {
		t, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		out, err := FilterTile(op, width, t)
		if err != nil {
			return err
		}
		if err := send(out); err != nil {
			return err
		}
	}
}

func (Impl) Checksum(ctx context.Context, data []byte) (uint64, error) { return Checksum(data), nil }

func (Impl) Touch(ctx context.Context, data *session.Lease) (uint64, error) {
	defer data.Release()
	b := data.Bytes()
	if len(b) == 0 {
		return 0, nil
	}
	return uint64(len(b)) + uint64(b[0]) + uint64(b[len(b)-1]), nil
}

func (Impl) Add(ctx context.Context, a, b int64) (int64, error) { return a + b, nil }

func (Impl) Note(ctx context.Context, text string) error { return nil }
