package codec

// lenHead reads the header of a str or bin and checks its declared length
// against the bytes left and then against max, before anything is
// allocated for it. It returns where the payload starts and its length.
func (d *Decoder) lenHead(k kind, max int, limitName string) (start, n int, err error) {
	h := readHead(d.b[d.off:])
	if h.hdr < 0 || h.kind != k {
		return 0, 0, d.typeErr(k.String())
	}
	left := d.Len() - h.hdr
	if h.n > uint64(left) {
		return 0, 0, errAt(d.off, ErrMalformed, nil, "%s of %d bytes declared with %d bytes left", k, h.n, left)
	}
	if h.n > uint64(max) {
		return 0, 0, errAt(d.off, ErrLimit, nil, "%s of %d bytes exceeds %s %d", k, h.n, limitName, max)
	}
	return d.off + h.hdr, int(h.n), nil
}

// String decodes a str into a new Go string (a copy).
func (d *Decoder) String() (string, error) {
	start, n, err := d.lenHead(kStr, d.lim.MaxStringLen, "MaxStringLen")
	if err != nil {
		return "", err
	}
	d.off = start + n
	return string(d.b[start:d.off]), nil
}

// StringView decodes a str as a view into the input: no copy, valid as
// long as the input is (see the package documentation).
func (d *Decoder) StringView() ([]byte, error) {
	start, n, err := d.lenHead(kStr, d.lim.MaxStringLen, "MaxStringLen")
	if err != nil {
		return nil, err
	}
	d.off = start + n
	return d.b[start:d.off:d.off], nil
}

// Bytes decodes a bin (or nil, as a nil slice) as a view into the input:
// no copy, valid as long as the input is. The view's capacity ends with
// it, so appending to it copies rather than overwriting the input.
func (d *Decoder) Bytes() ([]byte, error) {
	if d.IsNil() {
		d.off++
		return nil, nil
	}
	start, n, err := d.lenHead(kBin, d.lim.MaxBytesLen, "MaxBytesLen")
	if err != nil {
		return nil, err
	}
	d.off = start + n
	if d.copyBytes {
		// make then copy, which the compiler fuses into one allocation
		// that is not zeroed first (runtime.makeslicecopy).
		b := make([]byte, n)
		copy(b, d.b[start:d.off])
		return b, nil
	}
	return d.b[start:d.off:d.off], nil
}

// BytesCopy decodes a bin (or nil) into dst's storage, growing it if
// needed, and returns the copy: for values that must outlive the input.
func (d *Decoder) BytesCopy(dst []byte) ([]byte, error) {
	copyBytes := d.copyBytes
	d.copyBytes = false
	v, err := d.Bytes()
	d.copyBytes = copyBytes
	if err != nil || v == nil {
		return nil, err
	}
	if dst == nil {
		dst = make([]byte, 0, len(v)) // keep an empty value non-nil
	}
	return append(dst[:0], v...), nil
}

// ArrayHeader decodes an array header and returns its count. The count is
// checked against the bytes left (every element takes at least one byte)
// and charged to MaxElements before the caller allocates for it.
func (d *Decoder) ArrayHeader() (int, error) {
	return d.countHead(kArray, 1)
}

// Tuple decodes the header of an array that must have exactly n
// elements: the arguments or results of a method.
func (d *Decoder) Tuple(n int) error {
	off := d.off
	got, err := d.ArrayHeader()
	if err != nil {
		return err
	}
	if got != n {
		return errAt(off, ErrMalformed, nil, "array of %d elements where %d were expected", got, n)
	}
	return nil
}

// MapHeader decodes a map header and returns its number of entries,
// checked like ArrayHeader's (every entry takes at least two bytes).
func (d *Decoder) MapHeader() (int, error) {
	return d.countHead(kMap, 2)
}

func (d *Decoder) countHead(k kind, per uint64) (int, error) {
	h := readHead(d.b[d.off:])
	if h.hdr < 0 || h.kind != k {
		return 0, d.typeErr(k.String())
	}
	if err := d.charge(h, per); err != nil {
		return 0, err
	}
	d.off += h.hdr
	return int(h.n), nil
}

// charge checks a container's declared count against the input left and
// the element budget, and takes it from the budget.
func (d *Decoder) charge(h head, per uint64) error {
	left := d.Len() - h.hdr
	if h.n*per > uint64(left) {
		unit := "elements"
		if h.kind == kMap {
			unit = "entries"
		}
		return errAt(d.off, ErrMalformed, nil, "%s of %d %s declared with %d bytes left", h.kind, h.n, unit, left)
	}
	if h.n > uint64(d.lim.MaxElements-d.elems) {
		return errAt(d.off, ErrLimit, nil, "%s of %d elements exceeds MaxElements %d (%d used before it)", h.kind, h.n, d.lim.MaxElements, d.elems)
	}
	d.elems += int(h.n)
	return nil
}

// Consume moves past the next n bytes, which the caller decoded itself
// from Rest, and charges elems array elements or map entries that they
// held to MaxElements: for a fast path that reads a message's common
// shape straight from the bytes and leaves the rest to the Decoder.
func (d *Decoder) Consume(n, elems int) error {
	if n < 0 || n > d.Len() {
		return errAt(d.off, ErrMalformed, nil, "%d bytes consumed with %d left", n, d.Len())
	}
	if elems < 0 || elems > d.lim.MaxElements-d.elems {
		return errAt(d.off, ErrLimit, nil, "%d elements exceed MaxElements %d (%d used before them)", elems, d.lim.MaxElements, d.elems)
	}
	d.off += n
	d.elems += elems
	return nil
}
