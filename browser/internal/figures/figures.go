// Package figures is what the browser benchmarks measure, shared by the
// two clients they compare, so that both make the same calls: the wasm
// client in headless Chromium (testdata/wasmclient) and a Go client in
// the test process, both over transport/ws to the same Go host.
//
// The host serves Echo and Sink (Host.Register). The wasm client serves Run:
// the host asks it for a batch of N calls of one kind, it makes them back
// to the host on the same session, timing them with the browser's clock
// (time.Now rests on performance.now() in js/wasm), and answers a JSON
// Result. One page serves every batch of a benchmark, as a loaded web
// application would: the page load and the wasm compilation stay out of
// the figures, and testing.B can grow N as it does for any benchmark.
// The host ends the run with the notification Done, after which the
// client closes its session and exits 0: a client whose link ends any
// other way exits 1, so that the page's exit code tells a clean run from
// a broken one.
package figures

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// Service is the service of the figures' methods.
const Service = "plexus.browser.Figures"

// The kinds of call measured.
const (
	// Unary is a round trip of a 16-byte request echoed back.
	Unary = "unary"
	// Upload is a 1 MiB request from the client to the host, answered
	// with its length (8 bytes): a transfer in one direction.
	Upload = "upload"
)

// UploadSize is the size of an Upload request.
const UploadSize = 1 << 20

// Methods, by the names they are registered under.
var (
	MethodEcho = plexus.MethodID(Service, "Echo") // served by the host
	MethodSink = plexus.MethodID(Service, "Sink") // served by the host
	MethodRun  = plexus.MethodID(Service, "Run")  // served by the wasm client
	MethodDone = plexus.MethodID(Service, "Done") // a notification the wasm client handles
)

// Host serves the host's methods, Echo and Sink, and counts the calls it
// has answered, so that a test can check that a client's calls arrived.
type Host struct {
	Echoed atomic.Int64
	Sunk   atomic.Int64
}

// Register adds Echo and Sink to mux.
func (h *Host) Register(mux *session.Mux) error {
	if _, err := mux.HandleUnary(Service, "Echo", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		h.Echoed.Add(1)
		return plexus.Raw(req), nil
	}); err != nil {
		return err
	}
	_, err := mux.HandleUnary(Service, "Sink", func(_ context.Context, req []byte) (plexus.Marshaler, error) {
		h.Sunk.Add(1)
		return plexus.Raw(binary.LittleEndian.AppendUint64(nil, uint64(len(req)))), nil
	})
	return err
}

// NewCall returns one call of kind op on s, which checks the response:
// a figure for calls that come back wrong would be worthless.
func NewCall(s *session.Session, op string) (func(ctx context.Context) error, error) {
	switch op {
	case Unary:
		var req plexus.Marshaler = plexus.Raw("0123456789abcdef") // boxed once
		want := []byte("0123456789abcdef")
		var resp plexus.Raw
		return func(ctx context.Context) error {
			if err := s.Invoke(ctx, MethodEcho, req, &resp); err != nil {
				return err
			}
			if !bytes.Equal(resp, want) {
				return fmt.Errorf("echo answered %q", resp)
			}
			return nil
		}, nil
	case Upload:
		payload := make([]byte, UploadSize)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		var req plexus.Marshaler = plexus.Raw(payload)
		var resp plexus.Raw
		return func(ctx context.Context) error {
			if err := s.Invoke(ctx, MethodSink, req, &resp); err != nil {
				return err
			}
			if len(resp) != 8 || binary.LittleEndian.Uint64(resp) != UploadSize {
				return fmt.Errorf("sink answered %x, not the length %d", []byte(resp), UploadSize)
			}
			return nil
		}, nil
	}
	return nil, fmt.Errorf("figures: no kind of call %q", op)
}

// Request asks the wasm client for a batch.
type Request struct {
	Op string `json:"op"`
	N  int    `json:"n"`
}

// Result is the wasm client's answer to a batch: the time of the N calls
// as the browser measured it, per call, and whether the page had the
// fine clock of a cross-origin isolated page (without it, Chromium
// rounds performance.now() to 100 µs, which only a long batch averages
// out).
type Result struct {
	Op       string  `json:"op"`
	N        int     `json:"n"`
	NsPerOp  float64 `json:"ns_per_op"`
	Elapsed  int64   `json:"elapsed_ns"`
	Isolated bool    `json:"cross_origin_isolated"`
}

// Warmup is how many calls a batch makes before it starts the clock: the
// first calls of a kind allocate its buffers on both ends.
const Warmup = 3

// Measure makes Warmup and then n calls of kind op on s, and times the n.
func Measure(ctx context.Context, s *session.Session, op string, n int) (Result, error) {
	if n < 1 {
		return Result{}, errors.New("figures: a batch needs at least one call")
	}
	call, err := NewCall(s, op)
	if err != nil {
		return Result{}, err
	}
	for i := range Warmup {
		if err := call(ctx); err != nil {
			return Result{}, fmt.Errorf("warm-up call %d: %w", i, err)
		}
	}
	start := time.Now()
	for i := range n {
		if err := call(ctx); err != nil {
			return Result{}, fmt.Errorf("call %d of %d: %w", i, n, err)
		}
	}
	elapsed := time.Since(start)
	return Result{Op: op, N: n, NsPerOp: float64(elapsed.Nanoseconds()) / float64(n), Elapsed: elapsed.Nanoseconds()}, nil
}

// Ask has the wasm client at the other end of s run a batch, waiting up
// to the context's deadline.
func Ask(ctx context.Context, s *session.Session, op string, n int) (Result, error) {
	req, err := json.Marshal(Request{Op: op, N: n})
	if err != nil {
		return Result{}, err
	}
	var resp plexus.Raw
	if err := s.Invoke(ctx, MethodRun, plexus.Raw(req), &resp); err != nil {
		return Result{}, err
	}
	var r Result
	if err := json.Unmarshal(resp, &r); err != nil {
		return Result{}, fmt.Errorf("the wasm client's result %q: %w", resp, err)
	}
	return r, nil
}

// Finish tells the wasm client at the other end of s that the run is over.
func Finish(ctx context.Context, s *session.Session) error {
	return s.Notify(ctx, MethodDone, plexus.Raw{})
}
