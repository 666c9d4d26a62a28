package codec

// Size bounds for containers, for Msgsize methods of generated code. They
// are upper bounds, not exact sizes: a buffer of this size always holds
// the encoding.

// SizeSlice bounds the encoding of s given a bound for each element.
func SizeSlice[T any](s []T, f func(T) int) int {
	n := SizeArrayHeader
	for _, v := range s {
		n += f(v)
	}
	return n
}

// SizeMap bounds the encoding of m given bounds for keys and values.
func SizeMap[K comparable, V any](m map[K]V, fk func(K) int, fv func(V) int) int {
	n := SizeMapHeader
	if len(m) == 0 {
		return n // a range over even a nil map costs an iterator's setup
	}
	for k, v := range m {
		n += fk(k) + fv(v)
	}
	return n
}

// SizePtr bounds the encoding of p.
func SizePtr[T any](p *T, f func(T) int) int {
	if p == nil {
		return SizeNil
	}
	return f(*p)
}
