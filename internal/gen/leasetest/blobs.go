package leasetest

import (
	"context"

	"github.com/plexus-ipc/plexus/session"
)

//go:generate go run github.com/plexus-ipc/plexus/cmd/plexus gen

// Blobs passes leases in every position the generator allows.
//
//plexus:service
type Blobs interface {
	// Flip answers with a lease of its own holding the request's bytes,
	// each XORed with 0x5a.
	Flip(ctx context.Context, in *session.Lease) (*session.Lease, error)
	// Sum reads a lease in place: its length and a hash of its bytes.
	Sum(ctx context.Context, in *session.Lease) (n int, hash uint64, err error)
	// Size reads nothing: it answers the lease's length (the benchmark's
	// call, whose cost is the link's alone).
	Size(ctx context.Context, in *session.Lease) (int, error)
	// Fill answers with a lease of n bytes of the pattern of seed.
	Fill(ctx context.Context, n int, seed uint64) (*session.Lease, error)
	// Drop is one-way: the handler reports the lease's hash to the test.
	//
	//plexus:notify
	Drop(ctx context.Context, in *session.Lease) error
	// Pour streams count leases of n bytes, the pattern of seed+i.
	Pour(ctx context.Context, count, n int, seed uint64, send func(*session.Lease) error) error
	// Gather hashes every lease the caller streams.
	Gather(ctx context.Context, recv func() (*session.Lease, error)) (count int, hash uint64, err error)
	// Mirror answers each lease the caller streams with a flipped one.
	Mirror(ctx context.Context, recv func() (*session.Lease, error), send func(*session.Lease) error) error
}
