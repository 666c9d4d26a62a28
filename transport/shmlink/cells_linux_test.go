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
