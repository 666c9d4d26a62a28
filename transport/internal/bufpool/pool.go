package bufpool

import (
	"math/bits"
	"sync"
	"unsafe"
)

// Payload buffers come in power-of-two size classes so that a buffer
// returned by any socket or in-process transport can serve any later frame
// of the same class. The pools are package-wide: links are usually short of frames
// rather than of memory, and sharing lets a burst on one link warm the pool
// for the next.
const (
	minClassShift = 6  // 64 B: below this, class overhead beats the payload
	maxClassShift = 32 // Length is a u32, so no frame needs more
)

// pools holds the first byte of each free buffer as an unsafe.Pointer:
// a pointer fits an interface without allocating, where a []byte would be
// boxed on every Put. The pointer keeps the whole buffer alive.
var pools [maxClassShift + 1]sync.Pool

func classOf(n int) uint {
	if n <= 1<<minClassShift {
		return minClassShift
	}
	return uint(bits.Len(uint(n - 1)))
}

// Get returns a buffer of length n whose contents are undefined.
func Get(n int) []byte {
	c := classOf(n)
	if p, ok := pools[c].Get().(unsafe.Pointer); ok {
		return unsafe.Slice((*byte)(p), 1<<c)[:n]
	}
	return make([]byte, n, 1<<c)
}

// Put takes back a buffer from Get. Anything whose capacity is not a
// size class is left to the garbage collector, so a foreign slice never
// enters a pool under the wrong class.
func Put(b []byte) {
	c := cap(b)
	if c < 1<<minClassShift || c&(c-1) != 0 {
		return
	}
	shift := bits.TrailingZeros(uint(c))
	if shift > maxClassShift {
		return
	}
	pools[shift].Put(unsafe.Pointer(unsafe.SliceData(b)))
}
