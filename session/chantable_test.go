package session

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkTable compares t with the model m: the same channels under the
// same IDs, each found by get, none held twice, and the load bound kept.
func checkTable(t *testing.T, tab *chanTable, m map[uint64]*channel) {
	t.Helper()
	require.Equal(t, len(m), tab.len())
	for id, ch := range m {
		require.Same(t, ch, tab.get(id), "channel %d", id)
	}
	seen := map[uint64]bool{}
	for id, ch := range tab.all() {
		require.False(t, seen[id], "channel %d listed twice", id)
		seen[id] = true
		require.Same(t, m[id], ch, "channel %d", id)
	}
	require.Len(t, seen, len(m))
	if len(tab.keys) > 0 {
		require.LessOrEqual(t, 2*tab.n, len(tab.keys), "more than half full")
		require.Equal(t, 0, len(tab.keys)&(len(tab.keys)-1), "size %d not a power of two", len(tab.keys))
	}
}

// apply puts a new channel under id (put) or deletes id, in the table and
// in its model.
func apply(tab *chanTable, m map[uint64]*channel, put bool, id uint64) {
	if put {
		ch := &channel{}
		tab.put(id, ch)
		m[id] = ch
		return
	}
	tab.del(id)
	delete(m, id)
}

// A session's own pattern: IDs handed out in order, each channel taken
// out soon after, a few long-lived ones left behind (streams), with the
// peer's IDs of the other parity interleaved.
func TestChanTableCalls(t *testing.T) {
	var tab chanTable
	tab.init()
	m := map[uint64]*channel{}
	var live []uint64
	next := [2]uint64{1, 2}
	for i := range 20000 {
		side := i & 1
		id := next[side]
		next[side] += 2
		ch := &channel{}
		tab.put(id, ch)
		m[id] = ch
		live = append(live, id)
		// Finish the oldest calls but keep every 97th for good.
		for len(live) > 64 {
			old := live[0]
			live = live[1:]
			if old%97 == 0 {
				continue
			}
			tab.del(old)
			delete(m, old)
		}
		if i%1000 == 0 {
			checkTable(t, &tab, m)
		}
	}
	checkTable(t, &tab, m)
	for _, id := range live {
		tab.del(id)
		delete(m, id)
	}
	checkTable(t, &tab, m)
}

// Whatever the seed, a session's IDs (consecutive, of one parity) are
// spread over the slots: no entry sits far from where its probe starts.
// (A multiplier drawn at random placed them in a few clusters for some
// draws, and every put and delete walked one.)
func TestChanTableSpreadsConsecutiveIDs(t *testing.T) {
	for seed := range 200 {
		var tab chanTable
		tab.init()
		if seed > 0 {
			tab.seed = rand.New(rand.NewPCG(uint64(seed), 7)).Uint64()
		}
		for id := uint64(1001); id < 1001+2*64; id += 2 {
			tab.put(id, &channel{})
		}
		mask := len(tab.keys) - 1
		total, longest := 0, 0
		for i, k := range tab.keys {
			if k != 0 {
				d := (i - tab.home(k)) & mask
				total += d
				longest = max(longest, d)
			}
		}
		require.LessOrEqual(t, float64(total)/64, 2.0, "seed %#x: mean distance from home", tab.seed)
		require.LessOrEqual(t, longest, 24, "seed %#x: longest distance from home", tab.seed)
	}
}

// Random puts, replacements and deletes, including IDs spaced by the
// table's size (they would all start their probe at one slot under
// hashing by the low bits), against a map.
func TestChanTableRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var tab chanTable
	tab.init()
	m := map[uint64]*channel{}
	keys := func() uint64 {
		switch r.IntN(3) {
		case 0:
			return 1 + r.Uint64N(300)
		case 1:
			return 1 + 64*r.Uint64N(300) // strided
		default:
			return 1 + r.Uint64() // anywhere, up to the largest ID
		}
	}
	for i := range 50000 {
		apply(&tab, m, r.IntN(2) == 0, keys())
		if i%500 == 0 {
			checkTable(t, &tab, m)
		}
	}
	checkTable(t, &tab, m)
}

// The table grows past its first size and shrinks back once emptied.
func TestChanTableGrowsAndShrinks(t *testing.T) {
	var tab chanTable
	tab.init()
	require.Len(t, tab.keys, minChanTable)
	m := map[uint64]*channel{}
	for id := uint64(1); id <= 2001; id += 2 {
		ch := &channel{}
		tab.put(id, ch)
		m[id] = ch
	}
	checkTable(t, &tab, m)
	require.GreaterOrEqual(t, len(tab.keys), 2048)
	for id := range m {
		tab.del(id)
		delete(m, id)
	}
	checkTable(t, &tab, m)
	require.Len(t, tab.keys, minChanTable, "an emptied table shrinks back")
}

// Deleting inside a run that wraps around the end of the table keeps
// every entry behind it findable.
func TestChanTableDeleteWraps(t *testing.T) {
	var tab chanTable
	tab.init()
	// Find IDs whose probes start at the last slot, so that their run
	// wraps to slot 0.
	last := len(tab.keys) - 1
	var ids []uint64
	for id := uint64(1); len(ids) < 6; id++ {
		if tab.home(id) == last {
			ids = append(ids, id)
		}
	}
	m := map[uint64]*channel{}
	for _, id := range ids {
		ch := &channel{}
		tab.put(id, ch)
		m[id] = ch
	}
	require.Equal(t, ids[1], tab.keys[0], "the run wraps to slot 0")
	for _, id := range []uint64{ids[0], ids[3], ids[5]} {
		tab.del(id)
		delete(m, id)
		checkTable(t, &tab, m)
	}
}

// The zero value, as a dead session leaves it, finds nothing and takes a
// put.
func TestChanTableZero(t *testing.T) {
	var tab chanTable
	require.Nil(t, tab.get(7))
	tab.del(7)
	require.Equal(t, 0, tab.len())
	ch := &channel{}
	tab.put(7, ch)
	require.Same(t, ch, tab.get(7))
	require.Nil(t, tab.get(0), "ID 0 is never a channel")
	tab.del(0)
	require.Equal(t, 1, tab.len())
}

// FuzzChanTable runs a program of puts and deletes, IDs read from the
// input as the peer's calls would carry them, against a map.
func FuzzChanTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		var tab chanTable
		tab.init()
		m := map[uint64]*channel{}
		for len(prog) >= 9 {
			op, id := prog[0], binary.LittleEndian.Uint64(prog[1:9])
			prog = prog[9:]
			if id == 0 {
				continue // the link's ID: never a channel's
			}
			apply(&tab, m, op&1 == 0, id)
		}
		checkTable(t, &tab, m)
	})
}

// A call's use of the routing table, 64 calls in flight: a put, a get
// and a delete, against a map doing the same.
func BenchmarkChanTable(b *testing.B) {
	chs := make([]channel, 64)
	b.Run("table", func(b *testing.B) {
		var tab chanTable
		tab.init()
		for i := range b.N {
			id := uint64(2*i + 1)
			tab.put(id, &chs[i&63])
			if tab.get(id) == nil {
				b.Fatal("lost")
			}
			if i >= 64 {
				tab.del(id - 128)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		m := map[uint64]*channel{}
		for i := range b.N {
			id := uint64(2*i + 1)
			m[id] = &chs[i&63]
			if m[id] == nil {
				b.Fatal("lost")
			}
			if i >= 64 {
				delete(m, id-128)
			}
		}
	})
}
