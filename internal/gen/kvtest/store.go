package kvtest

import (
	"context"
	"time"
)

// Priority is a named basic type.
type Priority int8

// Blob is a named []byte.
type Blob []byte

// Store is a key-value store. Its NotFoundError is registered by the
// generated code.
//
//plexus:service
//plexus:errors NotFoundError
type Store interface {
	// Get is idempotent: the generated description says so.
	//
	//plexus:idempotent
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Lookup(ctx context.Context, keys []string, opts map[string]int64) (entries []Entry, found map[string]bool, err error)
	Stamp(ctx context.Context, at time.Time, p *int32, pri Priority, raw Blob, nested [][]byte, byID map[uint16]*Entry) (time.Time, *Entry, []Priority, error)
	Ping(ctx context.Context) error
}
