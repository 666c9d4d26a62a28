package main

// recorderSrc is the recorder the instrumented functions call. It is off
// except around the measured call, and then keeps only the functions that
// the measuring goroutine enters.
const recorderSrc = `// Package callpathrec records the functions one goroutine enters.
package callpathrec

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

var (
	on   atomic.Bool
	gid  atomic.Uint64
	mu   sync.Mutex
	seen []string
	have = map[string]bool{}
)

func goid() uint64 {
	var b [64]byte
	f := bytes.Fields(b[:runtime.Stack(b[:], false)])
	id, _ := strconv.ParseUint(string(f[1]), 10, 64)
	return id
}

// Start records the calling goroutine's functions from now on.
func Start() {
	gid.Store(goid())
	mu.Lock()
	seen, have = nil, map[string]bool{}
	mu.Unlock()
	on.Store(true)
}

// Stop ends recording and returns "function file" lines in the order
// each function was first entered.
func Stop() []string {
	on.Store(false)
	mu.Lock()
	defer mu.Unlock()
	return seen
}

// Enter is called at the top of every instrumented function.
func Enter() {
	if !on.Load() || goid() != gid.Load() {
		return
	}
	pc, file, _, _ := runtime.Caller(1)
	name := runtime.FuncForPC(pc).Name() + " " + file
	mu.Lock()
	if !have[name] {
		have[name] = true
		seen = append(seen, name)
	}
	mu.Unlock()
}
`

// callTestSrc makes the measured call: a generated client's unary method
// (kvtest's Store.Get, a string in and bytes out) over a shared-memory pair
// in one process, after a warm-up, so that no first-call path is counted;
// the path listed is the union of 20 calls.
const callTestSrc = `package callpathrec_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	rec RECORDER
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

type store struct{ kvtest.Store }

func (store) Get(ctx context.Context, key string) ([]byte, error) { return []byte("value"), nil }

func TestCallPath(t *testing.T) {
	h, p, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mux := session.NewMux()
	if err := kvtest.RegisterStore(mux, store{}); err != nil {
		t.Fatal(err)
	}
	srv := session.New(p, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	defer srv.Close()
	cl := session.New(h, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	defer cl.Close()
	c := kvtest.NewStoreClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 1000 {
		if _, err := c.Get(ctx, "key"); err != nil {
			t.Fatal(err)
		}
	}
	// The union of several calls: whether the response is already there
	// when the caller first looks, or it must wait, varies from call to
	// call, and both are the path.
	rec.Start()
	for range 20 {
		if _, err := c.Get(ctx, "key"); err != nil {
			t.Fatal(err)
		}
	}
	seen := rec.Stop()
	for _, s := range seen {
		fmt.Println("CALLPATH " + s)
	}
}
`
