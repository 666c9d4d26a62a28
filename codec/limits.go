package codec

// Limits bound what a Decoder accepts from its input, so that hostile
// input fails with ErrLimit before it costs memory or time. A zero field
// takes its default (DefaultLimits); a negative field means no limit beyond
// the size of the input itself, which every declared length is checked
// against anyway.
type Limits struct {
	// MaxDepth is the deepest nesting of arrays, maps and pointers
	// (decoding a top-level array is depth 1).
	MaxDepth int
	// MaxStringLen is the longest string, in bytes.
	MaxStringLen int
	// MaxBytesLen is the longest binary ([]byte) value, in bytes.
	MaxBytesLen int
	// MaxElements is the number of array elements plus map entries that
	// one decoder accepts in total, across the whole message.
	MaxElements int
}

// Default limits. Lengths are also bounded by the input, so these mainly
// cap how much a small message may make the receiver allocate (a map of n
// entries is allocated for n entries up front).
const (
	DefaultMaxDepth     = 64
	DefaultMaxStringLen = 16 << 20
	DefaultMaxBytesLen  = 1 << 30
	DefaultMaxElements  = 1 << 20
)

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:     DefaultMaxDepth,
		MaxStringLen: DefaultMaxStringLen,
		MaxBytesLen:  DefaultMaxBytesLen,
		MaxElements:  DefaultMaxElements,
	}
}

const unlimited = int(^uint(0) >> 1)

func resolve(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return unlimited
	}
	return v
}

func (l Limits) resolved() Limits {
	return Limits{
		MaxDepth:     resolve(l.MaxDepth, DefaultMaxDepth),
		MaxStringLen: resolve(l.MaxStringLen, DefaultMaxStringLen),
		MaxBytesLen:  resolve(l.MaxBytesLen, DefaultMaxBytesLen),
		MaxElements:  resolve(l.MaxElements, DefaultMaxElements),
	}
}
