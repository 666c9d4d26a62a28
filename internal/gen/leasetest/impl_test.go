package leasetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"sync"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// pattern fills b with bytes that depend on seed and on each position, so
// that a lease delivered out of place or out of order does not compare
// equal.
func pattern(b []byte, seed uint64) {
	x := seed*0x9e3779b97f4a7c15 | 1
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:]) // eight bytes at a time: -race instruments each access
	}
}

func patterned(n int, seed uint64) []byte {
	b := make([]byte, n)
	pattern(b, seed)
	return b
}

// hash is a digest of b that reads it eight bytes at a time (a byte-wise
// hash of 8 MiB is slow under -race).
func hash(b []byte) uint64 {
	h := uint64(len(b))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		h = (h ^ binary.LittleEndian.Uint64(b[i:])) * 0x100000001b3
	}
	for ; i < len(b); i++ {
		h = (h ^ uint64(b[i])) * 0x100000001b3
	}
	return h
}

// combine adds the hash of one lease to that of those before it.
func combine(h uint64, b []byte) uint64 { return h*31 + hash(b) }

func flip(dst, src []byte) {
	i := 0
	for ; i+8 <= len(src); i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^0x5a5a5a5a5a5a5a5a)
	}
	for ; i < len(src); i++ {
		dst[i] = src[i] ^ 0x5a
	}
}

// locator says where a buffer lies, for the zero-copy checks: a slot of a
// pool ("host slot 7"), a memfd ("memfd 12345", by inode) or "" where it
// cannot tell (on the in-process and socket transports, always).
type locator func([]byte) string

func nowhere([]byte) string { return "" }

// impl is the Blobs the tests serve. It records where each lease it
// received (in) and allocated (out) lay, as seen from the serving side.
type impl struct {
	peer, own locator

	mu      sync.Mutex
	in, out []string

	drops chan uint64 // hashes of dropped leases
}

func newImpl(peer, own locator) *impl {
	return &impl{peer: peer, own: own, drops: make(chan uint64, 16)}
}

// noteIn records where a lease the handler received lies.
func (im *impl) noteIn(l *session.Lease) { im.note(&im.in, im.peer, l) }

// noteOut records where a lease the handler sends lies.
func (im *impl) noteOut(l *session.Lease) { im.note(&im.out, im.own, l) }

// note locates l with where (outside the lock: a locator may be slow) and
// appends the result to list.
func (im *impl) note(list *[]string, where locator, l *session.Lease) {
	loc := where(l.Bytes())
	im.mu.Lock()
	*list = append(*list, loc)
	im.mu.Unlock()
}

// take returns and forgets what was recorded.
func (im *impl) take() (in, out []string) {
	im.mu.Lock()
	defer im.mu.Unlock()
	in, out = im.in, im.out
	im.in, im.out = nil, nil
	return in, out
}

func alloc(ctx context.Context, n int) (*session.Lease, error) {
	s := session.FromContext(ctx)
	if s == nil {
		return nil, plexus.Errorf(plexus.Internal, "no session in the handler's context")
	}
	return s.Alloc(n)
}

// Flip answers "nil" with a nil lease, to test what the caller gets, and
// a request that starts with "echo" with its own view (which the session copies: it is
// valid until the response is encoded).
func (im *impl) Flip(ctx context.Context, in *session.Lease) (*session.Lease, error) {
	im.noteIn(in)
	switch {
	case string(in.Bytes()) == "nil":
		return nil, nil
	case bytes.HasPrefix(in.Bytes(), []byte("echo")):
		return in, nil
	}
	out, err := alloc(ctx, in.Len())
	if err != nil {
		return nil, err
	}
	flip(out.Bytes(), in.Bytes())
	im.noteOut(out)
	return out, nil
}

func (im *impl) Sum(ctx context.Context, in *session.Lease) (int, uint64, error) {
	im.noteIn(in)
	return in.Len(), hash(in.Bytes()), nil
}

func (im *impl) Size(ctx context.Context, in *session.Lease) (int, error) { return in.Len(), nil }

// Fill with a negative n allocates a lease and fails: the generated code
// must release the lease.
func (im *impl) Fill(ctx context.Context, n int, seed uint64) (*session.Lease, error) {
	if n < 0 {
		l, err := alloc(ctx, -n)
		if err != nil {
			return nil, err
		}
		return l, plexus.Errorf(plexus.OutOfRange, "negative size %d", n)
	}
	l, err := alloc(ctx, n)
	if err != nil {
		return nil, err
	}
	pattern(l.Bytes(), seed)
	im.noteOut(l)
	return l, nil
}

func (im *impl) Drop(ctx context.Context, in *session.Lease) error {
	im.noteIn(in)
	im.drops <- hash(in.Bytes())
	return nil
}

func (im *impl) Pour(ctx context.Context, count, n int, seed uint64, send func(*session.Lease) error) error {
	for i := range count {
		l, err := alloc(ctx, n)
		if err != nil {
			return err
		}
		pattern(l.Bytes(), seed+uint64(i))
		im.noteOut(l)
		if err := send(l); err != nil {
			return err
		}
	}
	return nil
}

func (im *impl) Gather(ctx context.Context, recv func() (*session.Lease, error)) (int, uint64, error) {
	var h uint64
	count := 0
	for {
		l, err := recv()
		if err == io.EOF {
			return count, h, nil
		}
		if err != nil {
			return 0, 0, err
		}
		im.noteIn(l)
		h = combine(h, l.Bytes())
		count++
		l.Release()
	}
}

func (im *impl) Mirror(ctx context.Context, recv func() (*session.Lease, error), send func(*session.Lease) error) error {
	for {
		in, err := recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		im.noteIn(in)
		out, err := alloc(ctx, in.Len())
		if err != nil {
			in.Release()
			return err
		}
		flip(out.Bytes(), in.Bytes())
		in.Release()
		im.noteOut(out)
		if err := send(out); err != nil {
			return err
		}
	}
}
