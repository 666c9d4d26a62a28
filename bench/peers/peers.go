package peers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// MaxBlob is the largest Put request and Blob response any plugin accepts.
const MaxBlob = 256 << 20

// BlockBound bounds Block in every plugin: a call that nothing cancels
// returns an error after this long.
const BlockBound = 2 * time.Minute

// CookieEnv and the cookie values are the go-plugin handshake's magic cookie
// (plexus has a cookie of its own, plexusplugin.Cookie).
const CookieEnv = "PLEXUS_PEERS_PLUGIN"

// Conn is the host side of one running plugin process: the service every
// peer carries.
type Conn interface {
	// Echo returns the plugin's copy of b.
	Echo(ctx context.Context, b []byte) ([]byte, error)
	// Put sends b to the plugin, which checks its pattern (CheckSampled)
	// and returns its length.
	Put(ctx context.Context, b []byte) (int, error)
	// Blob asks the plugin for n bytes of the pattern (Fill); the slice
	// returned is the caller's.
	Blob(ctx context.Context, n int) ([]byte, error)
	// Block returns only when the call fails: the plugin's handler waits
	// until the call is cancelled (or BlockBound). It is what a caller
	// blocked in a call looks like when the plugin is killed.
	Block(ctx context.Context) error
	// Pid is the plugin's process ID.
	Pid() int
	// Close ends the plugin process and waits for it.
	Close() error
}

// Viewer is a Conn whose transport can hand a result over as a view of
// the received bytes instead of a copy (plexus: in shared memory, the
// plugin's slot or blob). The driver measures Blob through BlobView where
// a Conn has it; release gives the memory back and must be called once the
// bytes have been read.
type Viewer interface {
	BlobView(ctx context.Context, n int) (b []byte, release func(), err error)
}

// Peer describes one way of linking a host to a plugin.
type Peer struct {
	// Name is the short name the driver's -peers flag takes.
	Name string
	// Label names the peer in tables and charts.
	Label string
	// Plugin is the import path of the plugin binary's main package.
	Plugin string
	// Start spawns the plugin binary at path and links to it. It returns
	// once the link is ready for calls (for go-plugin: the plugin
	// dispensed); ctx bounds the start.
	Start func(ctx context.Context, path string) (Conn, error)
}

// Impl is the work every plugin does, whatever its transport, so that the
// peers differ only in how the calls travel.
type Impl struct {
	mu    sync.Mutex
	blobs map[int][]byte
}

// Echo returns b itself: the transport copies it into the response.
func (*Impl) Echo(b []byte) []byte { return b }

// Put checks b's pattern by sampling (CheckSampled) and returns its length.
func (*Impl) Put(b []byte) (int, error) {
	if err := CheckSampled(b); err != nil {
		return 0, fmt.Errorf("put: %w", err)
	}
	return len(b), nil
}

// maxCached bounds how many Blob sizes an Impl keeps.
const maxCached = 8

// Blob returns n bytes of the pattern. The slice is shared by every call of
// the same size and must not be modified: it is made once per size, so that
// a Blob call measures the transport, not the filling.
func (s *Impl) Blob(n int) ([]byte, error) {
	if n < 0 || n > MaxBlob {
		return nil, fmt.Errorf("blob: size %d out of range [0, %d]", n, MaxBlob)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.blobs[n]; ok {
		return b, nil
	}
	if s.blobs == nil || len(s.blobs) >= maxCached {
		s.blobs = map[int][]byte{}
	}
	b := make([]byte, n)
	Fill(b)
	s.blobs[n] = b
	return b, nil
}

// ErrBlockBound is what Block returns when nothing cancelled it within
// BlockBound.
var ErrBlockBound = errors.New("block: bound reached")

// Block waits until ctx is done (the transport cancels it when the caller
// gives up or the link ends) or BlockBound, and returns an error either way.
// done, if not nil, ends the wait as well (transports without a context).
func (*Impl) Block(ctx context.Context, done <-chan struct{}) error {
	t := time.NewTimer(BlockBound)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return errors.New("block: link closed")
	case <-t.C:
		return ErrBlockBound
	}
}

// word is the pattern's 8-byte word at index i (bytes 8i to 8i+7), a
// mixing function of i so that a misplaced page or a stale buffer shows.
func word(i uint64) uint64 {
	x := (i + 1) * 0x9E3779B97F4A7C15
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	return x
}

// Fill writes the pattern into b.
func Fill(b []byte) {
	n := len(b) &^ 7
	for off := 0; off < n; off += 8 {
		binary.LittleEndian.PutUint64(b[off:], word(uint64(off/8)))
	}
	if n < len(b) {
		var tail [8]byte
		binary.LittleEndian.PutUint64(tail[:], word(uint64(n/8)))
		copy(b[n:], tail[:])
	}
}

// checkWord compares the word of the pattern at byte offset off (a multiple
// of 8), or the bytes of it that b holds.
func checkWord(b []byte, off int) error {
	var w [8]byte
	binary.LittleEndian.PutUint64(w[:], word(uint64(off/8)))
	got := b[off:min(off+8, len(b))]
	for i := range got {
		if got[i] != w[i] {
			return fmt.Errorf("pattern differs at byte %d of %d", off+i, len(b))
		}
	}
	return nil
}

// Check compares every byte of b with the pattern.
func Check(b []byte) error {
	for off := 0; off < len(b); off += 8 {
		if err := checkWord(b, off); err != nil {
			return err
		}
	}
	return nil
}

// SamplePage is CheckSampled's stride: one word of every page.
const SamplePage = 4096

// CheckSampled compares one word of every 4 KiB of b, and its last word,
// with the pattern: every page is read, at a cost far below a full compare
// (which would dominate the time of a transport that does not copy).
func CheckSampled(b []byte) error {
	for off := 0; off < len(b); off += SamplePage {
		if err := checkWord(b, off); err != nil {
			return err
		}
	}
	if len(b) > 0 {
		if err := checkWord(b, (len(b)-1)&^7); err != nil {
			return err
		}
	}
	return nil
}
