package shmlink

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/wire"
)

// TestCellArena: a cell is out from get to put, and only then; a slice
// that is not a cell never is, whether cells are out or not; a second put
// of the same cell is refused. The arena grows past a slab and reuses what
// comes back.
func TestCellArena(t *testing.T) {
	var a cellArena
	foreign := make([]byte, 8)
	require.False(t, a.isOut(foreign), "empty arena")

	cells := make([][]byte, slabCells+3)
	for i := range cells {
		cells[i] = a.get(5, wire.InlineMax)
		require.Len(t, cells[i], 5)
		require.Equal(t, wire.InlineMax, cap(cells[i]))
		require.True(t, a.isOut(cells[i]), "cell %d after get", i)
	}
	require.Equal(t, int64(len(cells)), a.out.Load())
	require.False(t, a.isOut(foreign), "a foreign slice while cells are out")

	for i, c := range cells {
		require.True(t, a.put(c), "cell %d", i)
		require.False(t, a.isOut(c), "cell %d after put", i)
		require.False(t, a.put(c), "cell %d put twice", i)
	}
	require.Zero(t, a.out.Load())
	require.False(t, a.put(foreign))

	again := a.get(3, 3)
	require.True(t, a.isOut(again))
	require.Len(t, a.slabs, 2, "cells that came back are reused before the arena grows")
	require.True(t, a.put(again))
}

// TestRecvCells: cells are taken round the ring, a cell still out is
// skipped, the arena serves once every ring cell is out, a cell is given
// back once only, and a slice that is not a ring cell is not taken for
// one.
func TestRecvCells(t *testing.T) {
	c := recvCells{mem: new([ringCells * cellSize]byte)}
	held := c.get(4)
	require.Len(t, held, 4)
	require.Equal(t, 4, cap(held), "no room to append into the next cell")
	i, ok := c.index(held)
	require.True(t, ok)
	require.EqualValues(t, 0, i)

	// Round the ring with the first cell held: every other cell, and
	// then the held one is skipped.
	for k := 1; k < ringCells; k++ {
		p := c.get(wire.InlineMax)
		j, ok := c.index(p)
		require.True(t, ok)
		require.EqualValues(t, k, j)
		require.True(t, c.put(j))
		require.False(t, c.put(j), "cell %d given back twice", j)
	}
	p := c.get(1)
	j, ok := c.index(p)
	require.True(t, ok)
	require.EqualValues(t, 1, j, "the held cell 0 is skipped")

	// Every ring cell out: the arena serves.
	out := []uint32{j}
	for len(out) < ringCells-1 {
		k, ok := c.index(c.get(2))
		require.True(t, ok)
		out = append(out, k)
	}
	extra := c.get(3)
	_, ok = c.index(extra)
	require.False(t, ok, "with the ring full a cell comes from the arena")
	require.True(t, c.more.put(extra))

	_, ok = c.index(make([]byte, 8))
	require.False(t, ok, "a foreign slice")
	require.True(t, c.put(i))
	for _, k := range out {
		require.True(t, c.put(k))
	}
	k, ok := c.index(c.tryGet(5))
	require.True(t, ok, "cells given back are taken again")
	require.True(t, c.put(k))
}
