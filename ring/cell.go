package ring

// CellSize is the size of one ring entry in bytes: a cache line, and the
// size of a descriptor (package wire), which the ring carries without
// looking into it.
const CellSize = 64

// Cell is one ring entry.
type Cell = [CellSize]byte
