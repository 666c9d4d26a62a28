package shmlink

import "github.com/plexus-ipc/plexus/shm"

// The figures of Transport.Stats (stats_linux.go). The types build on
// every platform, so that a program that only shows them (plexus inspect,
// host.ClientStats) builds everywhere; only a Linux Transport makes them.

// Stats is a snapshot of one end of a shared-memory link, for inspection:
// how full the rings are, how many slots of each class are in use, and
// what this side holds in buffers outside the segment. It is taken
// without stopping the link (see Transport.Stats), so its figures are not
// one consistent cut, and those read from the segment are partly the
// peer's to write: they are clamped to the link's geometry and are for
// showing only.
type Stats struct {
	// Closed: Close has begun and the segment may be gone; nothing else
	// was read and every other field is zero.
	Closed bool `json:"closed,omitempty"`
	// Fault is why the link broke without Close (the peer's death, a
	// protocol violation), empty while it is up.
	Fault string `json:"fault,omitempty"`

	// TX is the ring this side sends on (descriptors the peer has not
	// taken yet), RX the one it receives from (descriptors this side has
	// not taken yet).
	TX shm.RingUse `json:"tx"`
	RX shm.RingUse `json:"rx"`
	// Own is this side's slot pool, which it sends from; Peer the peer's,
	// whose slots this side frees as it releases received frames.
	Own  []shm.ClassUse `json:"own_slots"`
	Peer []shm.ClassUse `json:"peer_slots"`

	// Leases counts buffers from Alloc out with the caller (not yet
	// through Send or Free): slots, inline-sized buffers and blob leases.
	Leases int `json:"leases"`
	// Held counts received frames with a payload this side has not
	// released yet (slot views, inline copies, blobs).
	Held int `json:"held"`

	Blobs BlobStats `json:"blobs"`
}

// BlobStats describes the payloads above the largest slot class (DESIGN.md
// "Blob buffers"): this side's recycled buffers, the peer's it has mapped,
// and the one-shot blobs received.
type BlobStats struct {
	// Pooled buffers of this side's cache are free for the next blob
	// (PooledBytes of them); WithPeer are named by a frame the peer has
	// not freed; Bytes counts every buffer of the cache, in any state,
	// against Config.BlobCache.
	Pooled      int   `json:"pooled"`
	PooledBytes int64 `json:"pooled_bytes"`
	WithPeer    int   `json:"with_peer"`
	Bytes       int64 `json:"bytes"`
	// Leases are blob buffers from Alloc out with the caller (recycled
	// ones and one-shot memfds alike).
	Leases int `json:"leases"`
	// PeerMapped of the peer's buffers (PeerBytes) are mapped here for
	// reuse; Received blobs of either kind are held by frames not yet
	// released, OneShotBytes of them one-shot blobs (bounded by
	// Config.MaxBlobMemory).
	PeerMapped   int   `json:"peer_mapped"`
	PeerBytes    int64 `json:"peer_bytes"`
	Received     int   `json:"received"`
	OneShotBytes int64 `json:"one_shot_bytes"`
	// Since the link was made: buffers created, taken again from the
	// pool, evicted to stay under the bound, and blobs sent in a memfd of
	// their own because the cache had no buffer to give.
	Created int64 `json:"created"`
	Reused  int64 `json:"reused"`
	Evicted int64 `json:"evicted"`
	OneShot int64 `json:"one_shot"`
	// Shared counts blobs sent by reference to sealed memory (a blob
	// this process sealed, or one a peer sent it): no byte copied.
	// Copied counts the payload bytes Send copied into slots and blobs
	// (inline payloads, which travel in the descriptor, left out).
	Shared int64 `json:"shared"`
	Copied int64 `json:"copied_bytes"`
}
