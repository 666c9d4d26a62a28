package codec

import (
	"github.com/tinylib/msgp/msgp"
)

// Skip consumes the next value whatever it is, checking it as the typed
// decoders would: every length against the input left and the Limits,
// nesting against MaxDepth, container counts against MaxElements.
func (d *Decoder) Skip() error {
	_, err := d.Raw()
	return err
}

// Raw consumes the next value and returns its encoding as a view into the
// input, after the checks of Skip.
func (d *Decoder) Raw() ([]byte, error) {
	start, depth := d.off, d.depth
	if err := d.walk(); err != nil {
		d.off, d.depth = start, depth
		return nil, err
	}
	return d.b[start:d.off:d.off], nil
}

// walk is the bounded structural walk: recursion goes no deeper than
// MaxDepth, and every step consumes at least one byte.
func (d *Decoder) walk() error {
	h := readHead(d.b[d.off:])
	switch {
	case h.hdr < 0:
		return errAt(d.off, ErrMalformed, nil, "header truncated (%d bytes left)", d.Len())
	case h.kind == kInvalid:
		return errAt(d.off, ErrMalformed, nil, "invalid byte 0x%02x", d.b[d.off])
	case h.kind == kArray || h.kind == kMap:
		if err := d.Enter(); err != nil {
			return err
		}
		per := uint64(1)
		if h.kind == kMap {
			per = 2
		}
		if err := d.charge(h, per); err != nil {
			return err
		}
		d.off += h.hdr
		for range h.n * per {
			if err := d.walk(); err != nil {
				return err
			}
		}
		d.Leave()
		return nil
	}
	left := d.Len() - h.hdr
	if h.n > uint64(left) {
		return errAt(d.off, ErrMalformed, nil, "%s of %d bytes declared with %d bytes left", h.kind, h.n, left)
	}
	switch h.kind {
	case kStr:
		if h.n > uint64(d.lim.MaxStringLen) {
			return errAt(d.off, ErrLimit, nil, "str of %d bytes exceeds MaxStringLen %d", h.n, d.lim.MaxStringLen)
		}
	case kBin, kExt:
		if h.n > uint64(d.lim.MaxBytesLen) {
			return errAt(d.off, ErrLimit, nil, "%s of %d bytes exceeds MaxBytesLen %d", h.kind, h.n, d.lim.MaxBytesLen)
		}
	}
	d.off += h.hdr + int(h.n)
	return nil
}

// ReadMsg decodes the next value into m, a type that decodes itself (a
// msgp-generated type). msgp's generated code allocates by the counts it
// reads, so the value is first checked by the structural walk of Skip:
// every count m's code will see is then known to be backed by input bytes
// and within MaxElements, which bounds what m can allocate (see the
// package documentation). m must consume exactly the value.
//
// The walk and m's decoder each read the value, and the input may be
// memory the peer can still write (a slot of the segment): a count seen
// as 1 by the walk could read 0xffffffff a moment later. So m decodes a
// private copy of the exact bytes the walk accepted, walked again: what m
// reads is then what was checked, whatever the peer does meanwhile.
func (d *Decoder) ReadMsg(m msgp.Unmarshaler) error {
	start := d.off
	raw, err := d.Raw()
	if err != nil {
		return err
	}
	own := append(make([]byte, 0, len(raw)), raw...)
	if err := d.rewalk(own, start); err != nil {
		d.off = start
		return err
	}
	rest, err := m.UnmarshalMsg(own)
	if err != nil {
		d.off = start
		return errAt(start, ErrMalformed, err, "decoding %T: %v", m, err)
	}
	if len(rest) != 0 {
		d.off = start
		return errAt(start, ErrMalformed, nil, "%T left %d of the value's %d bytes unread", m, len(rest), len(raw))
	}
	return nil
}

// rewalk checks the private copy of a value that Raw accepted at offset
// start: the copy must be exactly one value within the same limits (the
// peer may have changed the original between the walk and the copy). Its
// element budget starts afresh; the copy's own length bounds it as well.
func (d *Decoder) rewalk(own []byte, start int) error {
	c := Decoder{b: own, lim: d.lim, depth: d.depth}
	if err := c.walk(); err != nil {
		return errAt(start, ErrMalformed, err, "value changed while it was decoded: %v", err)
	}
	if c.off != len(own) {
		return errAt(start, ErrMalformed, nil, "value changed while it was decoded: %d of its %d bytes form a value", c.off, len(own))
	}
	return nil
}
