package session

import (
	"iter"
	"math/bits"
	"math/rand/v2"
)

// chanTable is the session's routing table: the open channels by ID, both
// the ones this side opened and the peer's. Session.mu guards it; it has
// no lock of its own.
//
// It is an open-addressing table with linear probing, not a Go map: every
// call puts its channel in, looks it up for each frame and takes it out,
// and on the 2-vCPU machine the map's assign, access and delete with their
// hashing took about 5 % of the host's processor time under 64 concurrent
// callers (BENCHMARKS.md). Channel IDs are small integers that each side
// hands out in order, and a cheap mix of the ID with a seed (a 64-bit
// finalizer: two multiplies and three shifts) spreads them over the slots
// as well as the map's full hash does. The seed is drawn at random for
// each table: the peer chooses the IDs of its calls, and one that knew
// how they are placed could pick IDs that all land on one run of slots and
// make every lookup walk it. (A random odd multiplier alone, Fibonacci
// hashing, was tried first: consecutive IDs times some multipliers fall
// into a few clusters, and with one such the host spent 14 % of its time
// in the table's put and delete walking them.)
//
// The table holds at most half its slots: it doubles when a put would
// fill more, and halves when a delete leaves an eighth or less of a table
// larger than the smallest. A delete shifts back the entries of the run
// behind it that would otherwise no longer be found (no tombstones, so a
// lookup never walks past dead slots).
type chanTable struct {
	keys  []uint64 // channel IDs; 0 (the link's ID, never a channel's) marks an empty slot
	vals  []*channel
	n     int    // channels held
	seed  uint64 // mixed into every ID (see home)
	shift uint   // 64 - log2(len(keys))
}

// minChanTable is the smallest table: 16 channels without growing.
const minChanTable = 32

// init makes an empty table. The zero value holds nothing and finds
// nothing; its first put makes it.
func (t *chanTable) init() {
	t.seed = rand.Uint64()
	t.resize(minChanTable)
}

// resize rehashes every channel into a table of size slots (a power of
// two).
func (t *chanTable) resize(size int) {
	keys, vals := t.keys, t.vals
	t.keys, t.vals = make([]uint64, size), make([]*channel, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for i, k := range keys {
		if k != 0 {
			j := t.slot(k)
			t.keys[j], t.vals[j] = k, vals[i]
		}
	}
}

// home is the slot where id's probe starts: the top bits of id mixed with
// the seed by the finalizer of MurmurHash3, in which every bit of the
// input moves every bit of the output.
func (t *chanTable) home(id uint64) int {
	x := id ^ t.seed
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return int(x >> t.shift)
}

// slot walks id's probe (the table is not the zero value): id's slot, or
// the empty slot that ends the probe, which is where id goes (no
// tombstones: see del).
func (t *chanTable) slot(id uint64) int {
	mask := len(t.keys) - 1
	i := t.home(id)
	for t.keys[i] != 0 && t.keys[i] != id {
		i = (i + 1) & mask
	}
	return i
}

// find is id's slot, or -1 if it is not in the table (or the table is
// the zero value, which a dead session's is).
func (t *chanTable) find(id uint64) int {
	if len(t.keys) == 0 {
		return -1
	}
	if i := t.slot(id); t.keys[i] == id {
		return i
	}
	return -1
}

// get is the channel with ID id, or nil.
func (t *chanTable) get(id uint64) *channel {
	if id == 0 {
		return nil
	}
	if i := t.find(id); i >= 0 {
		return t.vals[i]
	}
	return nil
}

// put enters ch under id (not 0), replacing any channel held under it,
// in one walk of id's probe (see slot).
func (t *chanTable) put(id uint64, ch *channel) {
	if 2*(t.n+1) > len(t.keys) {
		if len(t.keys) == 0 {
			t.init()
		} else if t.find(id) < 0 {
			t.resize(2 * len(t.keys))
		}
	}
	i := t.slot(id)
	if t.keys[i] == 0 {
		t.keys[i] = id
		t.n++
	}
	t.vals[i] = ch
}

// del removes the channel with ID id, if any.
func (t *chanTable) del(id uint64) {
	if id == 0 {
		return
	}
	i := t.find(id)
	if i < 0 {
		return
	}
	mask := len(t.keys) - 1
	// Backward shift: walk the run behind the emptied slot i and move
	// back each entry whose probe starts at or before i (cyclically),
	// since a lookup for it would stop at the hole.
	for j := (i + 1) & mask; t.keys[j] != 0; j = (j + 1) & mask {
		if h := t.home(t.keys[j]); (j-h)&mask >= (j-i)&mask {
			t.keys[i], t.vals[i] = t.keys[j], t.vals[j]
			i = j
		}
	}
	t.keys[i], t.vals[i] = 0, nil
	t.n--
	if len(t.keys) > minChanTable && 8*t.n <= len(t.keys) {
		t.resize(len(t.keys) / 2)
	}
}

// len is how many channels the table holds.
func (t *chanTable) len() int { return t.n }

// all yields every channel with its ID, in no particular order. The
// table must not change during the loop.
func (t *chanTable) all() iter.Seq2[uint64, *channel] {
	return func(yield func(uint64, *channel) bool) {
		for i, k := range t.keys {
			if k != 0 && !yield(k, t.vals[i]) {
				return
			}
		}
	}
}
