package shmlink

import "math"

// DefaultMaxPayload is the MaxPayload of a Config left zero. Shared memory
// has no natural limit (a payload above the largest slot class travels in a
// memfd of its own), so the limit only bounds how much memory one frame may
// make the receiver map.
const DefaultMaxPayload = 1 << 30

// DefaultBlobCache is the BlobCache of a Config left zero: room for four
// 64 MiB blob buffers, enough for a steady stream of 64 MiB frames with two
// in flight (one more is allocated while the peer's "free" is on its way).
const DefaultBlobCache = 256 << 20

// Defaults of the bounds on what the peer can make this side hold.
const (
	// DefaultMaxPendingBlobs: an honest sender has a blob descriptor
	// waiting for each BLOB frame in flight, which the link's window
	// keeps to a few (each blob is above the largest slot class).
	DefaultMaxPendingBlobs = 64
	// DefaultMaxBlobMemory: four of the largest frames (DefaultMaxPayload).
	DefaultMaxBlobMemory = 4 << 30
)

// Config tunes one Transport. The zero value is ready to use. The
// segment's geometry and wait bounds are shm.Config's, given to NewLink,
// Pair or OpenInherited.
type Config struct {
	// MaxPayload is the largest payload of one frame, in either
	// direction. Both ends of a link must agree: a frame above the
	// receiver's limit is a protocol violation that breaks the link. Zero
	// or less means DefaultMaxPayload; values above the 32-bit length
	// field are capped.
	MaxPayload int

	// BlobCache bounds the bytes of blob buffers (payloads above the
	// largest slot class) this side keeps for reuse: memfds it has
	// mapped once and the peer has mapped once, so that a stream of
	// large frames touches only warm pages and passes each descriptor
	// only once (DESIGN.md "Shared-memory transport", recycled blob
	// buffers). A blob that does not fit travels in a fresh memfd. The
	// same bound, or DefaultBlobCache if larger, limits the bytes of the
	// peer's buffers this side agrees to map: a peer configured above it
	// breaks the link, so raise it on both ends alike. Zero means
	// DefaultBlobCache; a negative value turns the cache off on the
	// sending side (every blob a fresh memfd).
	BlobCache int

	// MaxPendingBlobs bounds the blob descriptors (memfds) the peer has
	// passed on the control socket and not yet named in a BLOB frame,
	// which this process holds open meanwhile; one more is a protocol
	// violation. Zero means DefaultMaxPendingBlobs.
	MaxPendingBlobs int

	// MaxBlobMemory bounds the bytes of the peer's one-shot blobs (blobs
	// that are not recycled buffers) that this side has mapped at once,
	// for frames not yet released. One that would go over it ends the
	// link with RESOURCE_EXHAUSTED. The peer's recycled buffers are
	// bounded by BlobCache instead. Zero means DefaultMaxBlobMemory.
	MaxBlobMemory int
}

func (c Config) withDefaults() Config {
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if limit := uint64(math.MaxUint32); uint64(c.MaxPayload) > limit {
		c.MaxPayload = int(limit)
	}
	if c.BlobCache == 0 {
		c.BlobCache = DefaultBlobCache
	}
	if c.MaxPendingBlobs <= 0 {
		c.MaxPendingBlobs = DefaultMaxPendingBlobs
	}
	if c.MaxBlobMemory <= 0 {
		c.MaxBlobMemory = DefaultMaxBlobMemory
	}
	return c
}
