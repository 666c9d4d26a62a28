package shapetest

import (
	"context"
	"time"

	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
)

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Blob is a named []byte.
type Blob []byte

// Level is a named basic type.
type Level uint16

// Names is a named slice.
type Names []string

// Index is a named map.
type Index map[Level]*Point

// Shapes has one method of each shape. Every method may return a
// kvtest.NotFoundError (declared here, on the service); Fail may also
// return a ConflictError (declared on the method).
//
//plexus:service
//plexus:errors kvtest.NotFoundError
type Shapes interface {
	// Add is the benchmark's call: scalars only, so that nothing but the
	// call itself could allocate.
	Add(ctx context.Context, a, b int64) (int64, error)
	// Basics returns its arguments: every basic type.
	Basics(ctx context.Context, b bool, i int, i8 int8, i16 int16, i32 int32, i64 int64,
		u uint, u8 uint8, u16 uint16, u32 uint32, u64 uint64, f32 float32, f64 float64,
		s string) (bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, string, error)
	// Composite returns its arguments: []byte, named types, slices, maps,
	// pointers, times, durations and msgp structs.
	Composite(ctx context.Context, bs []byte, blob Blob, lvl Level, xs []int32, names Names,
		m map[string][]string, idx Index, p *float64, pp **string, t time.Time, d time.Duration,
		e kvtest.Entry, pe *Point, ps []Point, nested [][]byte) (
		[]byte, Blob, Level, []int32, Names, map[string][]string, Index, *float64, **string,
		time.Time, time.Duration, kvtest.Entry, *Point, []Point, [][]byte, error)
	// Count streams the points from..to-1 to the caller.
	Count(ctx context.Context, from, to int64, send func(Point) error) error
	// Sum adds what the caller streams, times scale, and counts it.
	Sum(ctx context.Context, scale int64, recv func() (int64, error)) (total int64, n int, err error)
	// Drain reads the caller's blobs and returns nothing but an error.
	Drain(ctx context.Context, recv func() ([]byte, error)) error
	// Echo answers each string the caller streams with a point tagged
	// with prefix and the string.
	Echo(ctx context.Context, prefix string, recv func() (string, error), send func(Point) error) error
	// Log is a notification: no answer.
	//
	//plexus:notify
	Log(ctx context.Context, line string, at time.Time) error
	// Fail returns the error kind asks for.
	//
	//plexus:errors ConflictError
	Fail(ctx context.Context, kind string) error
}

// Other is a second service in the same file, served under a chosen name.
//
//plexus:service name=shapes.Other
type Other interface {
	Uptime(ctx context.Context) (time.Duration, error)
}
