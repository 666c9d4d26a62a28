package codec

// The generic helpers take the element codec as a function, so that any
// supported type nests in any other without reflection: for example
// ReadSlice(d, (*Decoder).Int32) or
// AppendMap(b, m, AppendString, AppendString).

// AppendSlice appends s as an array of its elements, or nil for a nil
// slice (an empty slice stays an empty array, so nil-ness survives).
func AppendSlice[T any](b []byte, s []T, f func([]byte, T) []byte) []byte {
	if s == nil {
		return AppendNil(b)
	}
	b = AppendArrayHeader(b, len(s))
	for _, v := range s {
		b = f(b, v)
	}
	return b
}

// ReadSlice decodes an array (or nil, as a nil slice) with f for each
// element. The slice is allocated once the count has passed the checks of
// ArrayHeader, so its size is bounded by the input and MaxElements.
func ReadSlice[T any](d *Decoder, f func(*Decoder) (T, error)) ([]T, error) {
	return ReadSliceInto(d, nil, f)
}

// ReadSliceInto is ReadSlice reusing dst's storage when it is large
// enough.
func ReadSliceInto[T any](d *Decoder, dst []T, f func(*Decoder) (T, error)) ([]T, error) {
	if d.IsNil() {
		d.off++
		return nil, nil
	}
	if err := d.Enter(); err != nil {
		return nil, err
	}
	n, err := d.ArrayHeader()
	if err != nil {
		d.Leave()
		return nil, err
	}
	var s []T
	if dst != nil && cap(dst) >= n {
		s = dst[:n]
	} else {
		s = make([]T, n)
	}
	for i := range s {
		if s[i], err = f(d); err != nil {
			d.Leave()
			return nil, err
		}
	}
	d.Leave()
	return s, nil
}

// AppendMap appends m as a map, or nil for a nil map. Entries are written
// in Go's map iteration order, so equal maps need not encode identically.
func AppendMap[K comparable, V any](b []byte, m map[K]V, fk func([]byte, K) []byte, fv func([]byte, V) []byte) []byte {
	if m == nil {
		return AppendNil(b)
	}
	b = AppendMapHeader(b, len(m))
	for k, v := range m {
		b = fk(b, k)
		b = fv(b, v)
	}
	return b
}

// ReadMap decodes a map (or nil, as a nil map) with fk and fv for each
// entry. A key that occurs twice is malformed input: two implementations
// could keep different ones.
func ReadMap[K comparable, V any](d *Decoder, fk func(*Decoder) (K, error), fv func(*Decoder) (V, error)) (map[K]V, error) {
	if d.IsNil() {
		d.off++
		return nil, nil
	}
	if err := d.Enter(); err != nil {
		return nil, err
	}
	defer d.Leave()
	n, err := d.MapHeader()
	if err != nil {
		return nil, err
	}
	m := make(map[K]V, n)
	for range n {
		off := d.off
		k, err := fk(d)
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, errAt(off, ErrMalformed, nil, "duplicate map key")
		}
		if m[k], err = fv(d); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// AppendPtr appends *p, or nil for a nil pointer.
func AppendPtr[T any](b []byte, p *T, f func([]byte, T) []byte) []byte {
	if p == nil {
		return AppendNil(b)
	}
	return f(b, *p)
}

// ReadPtr decodes nil as a nil pointer and anything else with f into a new
// value. A pointer counts as a level of nesting, so recursive types built
// on it stop at MaxDepth.
func ReadPtr[T any](d *Decoder, f func(*Decoder) (T, error)) (*T, error) {
	if d.IsNil() {
		d.off++
		return nil, nil
	}
	if err := d.Enter(); err != nil {
		return nil, err
	}
	v, err := f(d)
	d.Leave()
	if err != nil {
		return nil, err
	}
	return &v, nil
}
