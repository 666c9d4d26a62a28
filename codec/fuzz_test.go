package codec_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/tinylib/msgp/msgp"
)

// fuzzLimits are tighter than the defaults so that the fuzzer reaches
// the limit paths with small inputs.
var fuzzLimits = codec.Limits{MaxDepth: 16, MaxStringLen: 1 << 12, MaxBytesLen: 1 << 12, MaxElements: 1 << 10}

func addSeeds(f *testing.F, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	for _, h := range hostileInputs() {
		f.Add(h.in)
	}
	f.Add(append(bytes.Repeat([]byte{0x91}, 100), 0xc0))
	f.Add([]byte{})
}

// FuzzDecodeArgs decodes arbitrary input as a typical argument set. What
// decodes must re-encode and decode to the same value; what does not must
// fail with one of the sentinels.
func FuzzDecodeArgs(f *testing.F) {
	addSeeds(f, appendArgs(nil, typicalArgs()), appendArgs(nil, args{}))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := readArgs(codec.NewDecoder(data, fuzzLimits))
		if err != nil {
			requireSentinel(t, err)
			return
		}
		b := appendArgs(nil, a)
		d := codec.NewDecoder(b, fuzzLimits)
		a2, err := readArgs(d)
		if err != nil {
			t.Fatalf("re-encoding of %#v does not decode: %v", a, err)
		}
		if err := d.Finish(); err != nil {
			t.Fatal(err)
		}
		if !a.When.Equal(a2.When) {
			t.Fatalf("time %v came back as %v", a.When, a2.When)
		}
		a.When, a2.When = a2.When, a.When
		if !reflect.DeepEqual(a, a2) {
			t.Fatalf("%#v came back as %#v", a, a2)
		}
	})
}

// FuzzDecodeAny runs the bounded structural walk (Skip, Raw) over
// arbitrary input. Where it accepts a value, msgp must agree on where the
// value ends, and msgp's generic decoder must be able to read it without
// exceeding the walk's bounds.
func FuzzDecodeAny(f *testing.F) {
	addSeeds(f, appendArgs(nil, typicalArgs()), codec.AppendAttachment(nil, 9),
		codec.AppendMap(nil, map[string][]int32{"a": {1}}, codec.AppendString, func(b []byte, v []int32) []byte {
			return codec.AppendSlice(b, v, codec.AppendInt32)
		}))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := codec.NewDecoder(data, fuzzLimits)
		raw, err := d.Raw()
		if err != nil {
			requireSentinel(t, err)
			return
		}
		rest, err := msgp.Skip(data)
		if err != nil || len(rest) != d.Len() {
			t.Fatalf("walk took %d bytes, msgp.Skip left %d (%v)", len(raw), len(rest), err)
		}
		if v, _, err := msgp.ReadIntfBytes(raw); err == nil {
			b, err := msgp.AppendIntf(nil, v)
			if err != nil {
				return // extension types msgp cannot re-encode generically
			}
			if err := codec.NewDecoder(b, codec.Limits{MaxDepth: fuzzLimits.MaxDepth}).Skip(); err != nil {
				t.Fatalf("msgp's re-encoding %x of %x does not walk: %v", b, raw, err)
			}
		}
	})
}

// FuzzDecodeMsg decodes arbitrary input as a msgp-generated type through
// ReadMsg, whose walk must keep the generated code's allocations bounded.
func FuzzDecodeMsg(f *testing.F) {
	seed, _ := (&Shape{Name: "s", Points: []Point{{1, 2, "p"}}, Tags: map[string]string{"a": "b"},
		Data: []byte{1}, Next: &Shape{Name: "n"}}).MarshalMsg(nil)
	addSeeds(f, seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Shape
		if err := codec.NewDecoder(data, fuzzLimits).ReadMsg(&s); err != nil {
			requireSentinel(t, err)
			return
		}
		b, err := codec.AppendMsg(nil, &s)
		if err != nil {
			t.Fatal(err)
		}
		var s2 Shape
		if err := codec.NewDecoder(b, codec.Limits{}).ReadMsg(&s2); err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(normShape(s), normShape(s2)) {
			t.Fatalf("%#v came back as %#v", s, s2)
		}
	})
}

// FuzzDecodeError feeds arbitrary details to DecodeError: it must return
// either the status unchanged or a registered type that round-trips.
func FuzzDecodeError(f *testing.F) {
	for _, e := range []error{&NotFoundError{Key: "k", Shard: 1}, &QuotaError{Used: 1, Limit: 2}} {
		f.Add(codec.EncodeError(e).(*plexus.Status).Details)
	}
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		st := &plexus.Status{Code: plexus.ApplicationError, Message: "m", Details: data}
		got := codec.DecodeError(st)
		if got == error(st) {
			return
		}
		again := codec.DecodeError(crossLink(t, codec.EncodeError(got)))
		if !reflect.DeepEqual(got, again) {
			t.Fatalf("%#v came back as %#v", got, again)
		}
	})
}

func requireSentinel(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, codec.ErrMalformed) && !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("error wraps no sentinel: %v", err)
	}
	var e *codec.Error
	if !errors.As(err, &e) {
		t.Fatalf("error is not a *codec.Error: %T %v", err, err)
	}
}
