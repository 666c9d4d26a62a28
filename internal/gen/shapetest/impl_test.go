package shapetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
)

// impl is the Shapes the tests serve: it echoes, streams and fails on
// request, and records what a test cannot see from the caller's side.
type impl struct {
	logs      chan logLine
	drained   atomic.Int64  // bytes Drain received
	cancelled chan struct{} // a long Count saw its context end
}

type logLine struct {
	line string
	at   time.Time
}

func newImpl() *impl {
	return &impl{logs: make(chan logLine, 16), cancelled: make(chan struct{}, 16)}
}

func (*impl) Add(ctx context.Context, a, b int64) (int64, error) { return a + b, nil }

func (*impl) Basics(ctx context.Context, b bool, i int, i8 int8, i16 int16, i32 int32, i64 int64,
	u uint, u8 uint8, u16 uint16, u32 uint32, u64 uint64, f32 float32, f64 float64,
	s string) (bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, string, error) {
	return b, i, i8, i16, i32, i64, u, u8, u16, u32, u64, f32, f64, s, nil
}

// Composite returns its arguments. []byte arguments are views of the
// request, which is released when the handler returns, before the results
// are encoded: results must not alias them, hence the clones.
func (*impl) Composite(ctx context.Context, bs []byte, blob Blob, lvl Level, xs []int32, names Names,
	m map[string][]string, idx Index, p *float64, pp **string, t time.Time, d time.Duration,
	e kvtest.Entry, pe *Point, ps []Point, nested [][]byte) (
	[]byte, Blob, Level, []int32, Names, map[string][]string, Index, *float64, **string,
	time.Time, time.Duration, kvtest.Entry, *Point, []Point, [][]byte, error) {
	var nc [][]byte
	if nested != nil {
		nc = make([][]byte, len(nested))
		for i, b := range nested {
			nc[i] = clone(b)
		}
	}
	return clone(bs), Blob(clone(blob)), lvl, xs, names, m, idx, p, pp, t, d, e, pe, ps, nc, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

func (im *impl) Count(ctx context.Context, from, to int64, send func(Point) error) error {
	if from < 0 {
		return &kvtest.NotFoundError{Key: "negative"}
	}
	for i := from; i < to; i++ {
		if err := send(Point{X: i, Y: float64(i) / 2}); err != nil {
			// A send can fail on the caller's RESET a moment before the
			// context is cancelled.
			if to-from > 1000 {
				select {
				case <-ctx.Done():
					im.cancelled <- struct{}{}
				case <-time.After(5 * time.Second):
				}
			}
			return err
		}
		if to-from > 1000 {
			// A long count paces itself so that the caller can abandon it.
			select {
			case <-ctx.Done():
				im.cancelled <- struct{}{}
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
	}
	return nil
}

func (*impl) Sum(ctx context.Context, scale int64, recv func() (int64, error)) (int64, int, error) {
	var total int64
	n := 0
	for {
		v, err := recv()
		if err == io.EOF {
			return total, n, nil
		}
		if err != nil {
			return 0, 0, err
		}
		if v < 0 {
			return 0, 0, &kvtest.NotFoundError{Key: "negative"}
		}
		total += v * scale
		n++
	}
}

func (im *impl) Drain(ctx context.Context, recv func() ([]byte, error)) error {
	for {
		b, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		im.drained.Add(int64(len(b)))
	}
}

func (*impl) Echo(ctx context.Context, prefix string, recv func() (string, error), send func(Point) error) error {
	for i := int64(0); ; i++ {
		s, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if s == "fail" {
			return &kvtest.NotFoundError{Key: s}
		}
		if err := send(Point{X: i, Tags: []string{prefix, s}}); err != nil {
			return err
		}
	}
}

func (im *impl) Log(ctx context.Context, line string, at time.Time) error {
	im.logs <- logLine{line, at}
	return nil
}

func (*impl) Fail(ctx context.Context, kind string) error {
	switch kind {
	case "conflict":
		return &ConflictError{Key: "k", Version: 9}
	case "notfound":
		return &kvtest.NotFoundError{Key: "nf"}
	case "status":
		return plexus.Errorf(plexus.FailedPrecondition, "not now")
	}
	return errors.New("plain failure")
}

type other struct{}

func (other) Uptime(ctx context.Context) (time.Duration, error) { return 42 * time.Second, nil }
