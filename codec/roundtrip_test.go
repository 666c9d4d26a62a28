package codec_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/codec"
	"github.com/stretchr/testify/require"
	"github.com/tinylib/msgp/msgp"
)

// roundTrip encodes v, decodes it back with dec, and requires an equal
// value that used exactly the encoding. It then requires every strict
// prefix of the encoding to fail with ErrMalformed (MessagePack values are
// prefix-free, so no prefix is a complete value).
func roundTrip[T any](t *testing.T, v T, enc func([]byte, T) []byte, dec func(*codec.Decoder) (T, error)) {
	t.Helper()
	b := enc(nil, v)
	d := codec.NewDecoder(b, codec.Limits{})
	got, err := dec(d)
	require.NoError(t, err, "value %#v encoding %x", v, b)
	require.NoError(t, d.Finish())
	requireSame(t, v, got)
	for n := range len(b) {
		if n > 64 && n < len(b)-64 && n%(len(b)/64) != 0 {
			continue // long encodings: both ends and a sample between
		}
		d := codec.NewDecoder(b[:n], codec.Limits{})
		_, err := dec(d)
		require.ErrorIs(t, err, codec.ErrMalformed, "prefix %d of %x of %#v", n, b, v)
	}
}

// requireSame compares by value, treating times by instant and floats by
// bits (so NaN equals itself).
func requireSame(t *testing.T, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case time.Time:
		g := got.(time.Time)
		require.True(t, w.Equal(g), "time %v came back as %v", w, g)
		return
	case float64:
		require.Equal(t, math.Float64bits(w), math.Float64bits(got.(float64)))
		return
	case float32:
		require.Equal(t, math.Float32bits(w), math.Float32bits(got.(float32)))
		return
	}
	require.True(t, reflect.DeepEqual(want, got), "want %#v, got %#v", want, got)
}

func TestRoundTripTable(t *testing.T) {
	t.Run("bool", func(t *testing.T) {
		roundTrip(t, true, codec.AppendBool, (*codec.Decoder).Bool)
		roundTrip(t, false, codec.AppendBool, (*codec.Decoder).Bool)
	})
	t.Run("int64", func(t *testing.T) {
		for _, v := range []int64{0, 1, -1, 127, 128, -32, -33, 255, 256, math.MaxInt16, math.MinInt16,
			math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64} {
			roundTrip(t, v, codec.AppendInt64, (*codec.Decoder).Int64)
		}
	})
	t.Run("narrow ints", func(t *testing.T) {
		roundTrip(t, int8(math.MinInt8), codec.AppendInt8, (*codec.Decoder).Int8)
		roundTrip(t, int16(math.MinInt16), codec.AppendInt16, (*codec.Decoder).Int16)
		roundTrip(t, int32(math.MaxInt32), codec.AppendInt32, (*codec.Decoder).Int32)
		roundTrip(t, int(math.MinInt64), codec.AppendInt, (*codec.Decoder).Int)
		roundTrip(t, uint8(math.MaxUint8), codec.AppendUint8, (*codec.Decoder).Uint8)
		roundTrip(t, uint16(math.MaxUint16), codec.AppendUint16, (*codec.Decoder).Uint16)
		roundTrip(t, uint32(math.MaxUint32), codec.AppendUint32, (*codec.Decoder).Uint32)
		roundTrip(t, uint64(math.MaxUint64), codec.AppendUint64, (*codec.Decoder).Uint64)
		roundTrip(t, uint(math.MaxUint), codec.AppendUint, (*codec.Decoder).Uint)
	})
	t.Run("floats", func(t *testing.T) {
		for _, v := range []float64{0, math.Copysign(0, -1), 1.5, math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64, math.SmallestNonzeroFloat64} {
			roundTrip(t, v, codec.AppendFloat64, (*codec.Decoder).Float64)
		}
		roundTrip(t, float32(3.25), codec.AppendFloat32, (*codec.Decoder).Float32)
		// A float32 widens into a float64 field.
		d := codec.NewDecoder(codec.AppendFloat32(nil, 2.5), codec.Limits{})
		v, err := d.Float64()
		require.NoError(t, err)
		require.Equal(t, 2.5, v)
	})
	t.Run("string", func(t *testing.T) {
		for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
			roundTrip(t, string(bytes.Repeat([]byte{'x'}, n)), codec.AppendString, (*codec.Decoder).String)
		}
		roundTrip(t, "héllo, 世界", codec.AppendString, (*codec.Decoder).String)
	})
	t.Run("bytes", func(t *testing.T) {
		for _, v := range [][]byte{nil, {}, {0}, bytes.Repeat([]byte{7}, 300), bytes.Repeat([]byte{9}, 70000)} {
			roundTrip(t, v, codec.AppendBytes, (*codec.Decoder).Bytes)
			roundTrip(t, v, codec.AppendBytes, func(d *codec.Decoder) ([]byte, error) { return d.BytesCopy(nil) })
		}
	})
	t.Run("duration", func(t *testing.T) {
		for _, v := range []time.Duration{0, time.Nanosecond, -time.Hour, math.MaxInt64, math.MinInt64} {
			roundTrip(t, v, codec.AppendDuration, (*codec.Decoder).Duration)
		}
	})
	t.Run("time", func(t *testing.T) {
		for _, v := range []time.Time{
			{}, time.Unix(0, 0), time.Unix(1, 0), time.Unix(1<<32-1, 0), time.Unix(1<<32, 0),
			time.Unix(1<<34-1, 999999999), time.Unix(1<<34, 1), time.Unix(-1, 5), time.Unix(-1<<40, 999999999),
			time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			time.Now(), // carries a monotonic reading and a location; neither travels
		} {
			roundTrip(t, v, codec.AppendTime, (*codec.Decoder).Time)
		}
	})
	t.Run("attachment", func(t *testing.T) {
		for _, v := range []uint32{0, 1, 255, math.MaxUint32} {
			roundTrip(t, v, codec.AppendAttachment, (*codec.Decoder).Attachment)
		}
		b := codec.AppendAttachment(nil, 0x01020304)
		require.Equal(t, []byte{0xd6, 80, 1, 2, 3, 4}, b)
	})
	t.Run("slices", func(t *testing.T) {
		encI := func(b []byte, s []int32) []byte { return codec.AppendSlice(b, s, codec.AppendInt32) }
		decI := func(d *codec.Decoder) ([]int32, error) { return codec.ReadSlice(d, (*codec.Decoder).Int32) }
		roundTrip(t, []int32(nil), encI, decI)
		roundTrip(t, []int32{}, encI, decI)
		roundTrip(t, []int32{1, -2, math.MaxInt32, math.MinInt32}, encI, decI)
		encS := func(b []byte, s [][]string) []byte {
			return codec.AppendSlice(b, s, func(b []byte, v []string) []byte { return codec.AppendSlice(b, v, codec.AppendString) })
		}
		decS := func(d *codec.Decoder) ([][]string, error) {
			return codec.ReadSlice(d, func(d *codec.Decoder) ([]string, error) { return codec.ReadSlice(d, (*codec.Decoder).String) })
		}
		roundTrip(t, [][]string{{"a", "b"}, nil, {}, {""}}, encS, decS)
	})
	t.Run("maps", func(t *testing.T) {
		enc := func(b []byte, m map[string][]byte) []byte {
			return codec.AppendMap(b, m, codec.AppendString, codec.AppendBytes)
		}
		dec := func(d *codec.Decoder) (map[string][]byte, error) {
			return codec.ReadMap(d, (*codec.Decoder).String, (*codec.Decoder).Bytes)
		}
		roundTrip(t, map[string][]byte(nil), enc, dec)
		roundTrip(t, map[string][]byte{}, enc, dec)
		roundTrip(t, map[string][]byte{"a": {1}, "b": nil, "": {}}, enc, dec)
		encU := func(b []byte, m map[uint16]float64) []byte {
			return codec.AppendMap(b, m, codec.AppendUint16, codec.AppendFloat64)
		}
		decU := func(d *codec.Decoder) (map[uint16]float64, error) {
			return codec.ReadMap(d, (*codec.Decoder).Uint16, (*codec.Decoder).Float64)
		}
		roundTrip(t, map[uint16]float64{1: 1.5, 65535: -2}, encU, decU)
	})
	t.Run("pointers", func(t *testing.T) {
		enc := func(b []byte, p *int64) []byte { return codec.AppendPtr(b, p, codec.AppendInt64) }
		dec := func(d *codec.Decoder) (*int64, error) { return codec.ReadPtr(d, (*codec.Decoder).Int64) }
		roundTrip(t, (*int64)(nil), enc, dec)
		v := int64(-5)
		roundTrip(t, &v, enc, dec)
	})
	t.Run("msgp struct", func(t *testing.T) {
		enc := func(b []byte, s Shape) []byte {
			b, err := codec.AppendMsg(b, &s)
			require.NoError(t, err)
			return b
		}
		roundTrip(t, Shape{}, enc, readShape)
		roundTrip(t, Shape{Name: "tri", Points: []Point{{1, 2, "a"}, {3, -4, ""}}, Tags: map[string]string{"k": "v"},
			Data: []byte{1, 2, 3}, Next: &Shape{Name: "inner"}}, enc, readShape)
	})
}

// TestViews shows that Bytes and StringView alias the input and that an
// append to a view cannot overwrite the bytes after it.
func TestViews(t *testing.T) {
	b := codec.AppendBytes(nil, []byte("abc"))
	b = codec.AppendString(b, "xyz")
	d := codec.NewDecoder(b, codec.Limits{})
	v, err := d.Bytes()
	require.NoError(t, err)
	s, err := d.StringView()
	require.NoError(t, err)
	require.Same(t, &b[2], &v[0], "Bytes is a view into the input")
	require.Same(t, &b[6], &s[0], "StringView is a view into the input")
	_ = append(v, 'Z')
	require.Equal(t, byte('x'), b[6], "append to a view copied instead of overwriting the input")
	c, err := codec.NewDecoder(b, codec.Limits{}).BytesCopy(make([]byte, 0, 8))
	require.NoError(t, err)
	require.Equal(t, []byte("abc"), c)
	require.NotSame(t, &b[2], &c[0])
}

func TestNarrowingAndTypeErrors(t *testing.T) {
	check := func(b []byte, dec func(*codec.Decoder) error, want string) {
		t.Helper()
		err := dec(codec.NewDecoder(b, codec.Limits{}))
		require.ErrorIs(t, err, codec.ErrMalformed)
		require.Contains(t, err.Error(), want)
	}
	i8 := func(d *codec.Decoder) error { _, err := d.Int8(); return err }
	u32 := func(d *codec.Decoder) error { _, err := d.Uint32(); return err }
	i64 := func(d *codec.Decoder) error { _, err := d.Int64(); return err }
	str := func(d *codec.Decoder) error { _, err := d.String(); return err }
	arr := func(d *codec.Decoder) error { _, err := d.ArrayHeader(); return err }
	att := func(d *codec.Decoder) error { _, err := d.Attachment(); return err }
	check(codec.AppendInt64(nil, 128), i8, "overflow")
	check(codec.AppendInt64(nil, -129), i8, "overflow")
	check(codec.AppendInt64(nil, -1), u32, "")
	check(codec.AppendUint64(nil, 1<<32), u32, "overflow")
	check(codec.AppendUint64(nil, math.MaxUint64), i64, "overflow")
	check(codec.AppendString(nil, "1"), i64, "")
	check(codec.AppendInt64(nil, 1), str, "expected str, found uint at offset 0")
	check([]byte{0xc1}, str, "expected str, found the invalid byte 0xc1 at offset 0")
	check(nil, arr, "expected array, found the end of the input at offset 0")
	check(codec.AppendTime(nil, time.Unix(5, 0)), att, "expected attachment reference, found ext type -1")
	check([]byte{0xd6, 80, 0}, att, "attachment reference truncated")

	// Finish rejects trailing input.
	d := codec.NewDecoder([]byte{1, 2}, codec.Limits{})
	_, err := d.Int64()
	require.NoError(t, err)
	err = d.Finish()
	require.ErrorIs(t, err, codec.ErrMalformed)
	require.EqualError(t, err, "codec: 1 trailing bytes after the message at offset 1")

	// A duplicate map key is malformed.
	b := codec.AppendMapHeader(nil, 2)
	b = codec.AppendString(codec.AppendString(b, "k"), "v")
	b = codec.AppendString(codec.AppendString(b, "k"), "w")
	_, err = codec.ReadMap(codec.NewDecoder(b, codec.Limits{}), (*codec.Decoder).String, (*codec.Decoder).String)
	require.ErrorIs(t, err, codec.ErrMalformed)
	require.Contains(t, err.Error(), "duplicate map key at offset 5")

	// msgp's own time extension (5) decodes too.
	tm := time.Unix(1700000000, 123)
	got, err := codec.NewDecoder(msgpAppendTime5(tm), codec.Limits{}).Time()
	require.NoError(t, err)
	require.True(t, tm.Equal(got))
}

// TestRoundTripRandom round-trips seeded random values of every type.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		roundTrip(t, randInt64(r), codec.AppendInt64, (*codec.Decoder).Int64)
		roundTrip(t, r.Uint64()>>r.IntN(64), codec.AppendUint64, (*codec.Decoder).Uint64)
		roundTrip(t, int32(randInt64(r)), codec.AppendInt32, (*codec.Decoder).Int32)
		roundTrip(t, uint16(r.Uint32()), codec.AppendUint16, (*codec.Decoder).Uint16)
		roundTrip(t, math.Float64frombits(r.Uint64()), codec.AppendFloat64, (*codec.Decoder).Float64)
		roundTrip(t, math.Float32frombits(r.Uint32()), codec.AppendFloat32, (*codec.Decoder).Float32)
		roundTrip(t, randString(r), codec.AppendString, (*codec.Decoder).String)
		roundTrip(t, randBytes(r), codec.AppendBytes, (*codec.Decoder).Bytes)
		roundTrip(t, time.Duration(randInt64(r)), codec.AppendDuration, (*codec.Decoder).Duration)
		roundTrip(t, time.Unix(randInt64(r)>>r.IntN(30), r.Int64N(1e9)), codec.AppendTime, (*codec.Decoder).Time)
		roundTrip(t, r.Uint32(), codec.AppendAttachment, (*codec.Decoder).Attachment)
		a := randArgs(r)
		roundTrip(t, a, appendArgs, readArgs)
		s := randShape(r, 3)
		roundTrip(t, s, func(b []byte, s Shape) []byte {
			b, err := codec.AppendMsg(b, &s)
			require.NoError(t, err)
			return b
		}, readShape)
	}
}

func randInt64(r *rand.Rand) int64 { return int64(r.Uint64()) >> r.IntN(64) }

func randString(r *rand.Rand) string {
	runes := []rune("aé世\x00~")
	n := r.IntN(40)
	if r.IntN(10) == 0 {
		n = r.IntN(70000)
	}
	s := make([]rune, n)
	for i := range s {
		s[i] = runes[r.IntN(len(runes))]
	}
	return string(s)
}

func randBytes(r *rand.Rand) []byte {
	switch r.IntN(5) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, r.IntN(2000))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randShape(r *rand.Rand, depth int) Shape {
	s := Shape{Name: randString(r), Data: randBytes(r)}
	if len(s.Data) == 0 {
		s.Data = nil // msgp decodes an empty bin as nil
	}
	if n := r.IntN(4); n > 0 {
		s.Points = make([]Point, n)
		for i := range s.Points {
			s.Points[i] = Point{X: int32(r.Uint32()), Y: int32(r.Uint32()), Label: randString(r)}
		}
	}
	if n := r.IntN(4); n > 0 {
		s.Tags = map[string]string{}
		for range n {
			s.Tags[randString(r)] = randString(r)
		}
	}
	if depth > 0 && r.IntN(2) == 0 {
		n := randShape(r, depth-1)
		s.Next = &n
	}
	return s
}

// readShape decodes a Shape and gives empty containers the nil form
// randShape uses, since msgp's generated code does not keep nil-ness.
func readShape(d *codec.Decoder) (Shape, error) {
	var s Shape
	err := d.ReadMsg(&s)
	return normShape(s), err
}

func normShape(s Shape) Shape {
	if len(s.Data) == 0 {
		s.Data = nil
	}
	if len(s.Tags) == 0 {
		s.Tags = nil
	}
	if len(s.Points) == 0 {
		s.Points = nil
	}
	if s.Next != nil {
		n := normShape(*s.Next)
		s.Next = &n
	}
	return s
}

func msgpAppendTime5(t time.Time) []byte { return msgp.AppendTime(nil, t) }

// TestSizesBound checks that the Size helpers bound what the Append
// functions write, for the random argument sets.
func TestSizesBound(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sizeStr := codec.SizeString
	for range 200 {
		a := randArgs(r)
		bound := codec.SizeArrayHeader + codec.SizeInt + codec.SizeString(a.Name) + codec.SizeBytes(a.Blob) +
			codec.SizeSlice(a.Vals, func(int32) int { return codec.SizeInt }) +
			codec.SizeMap(a.Tags, sizeStr, sizeStr) + codec.SizeTime
		require.LessOrEqual(t, len(appendArgs(nil, a)), bound)
		p := &a.ID
		if r.IntN(2) == 0 {
			p = nil
		}
		require.LessOrEqual(t, len(codec.AppendPtr(nil, p, codec.AppendInt64)), codec.SizePtr(p, func(int64) int { return codec.SizeInt }))
	}
}

func TestCopyBytesAndTuple(t *testing.T) {
	b := codec.AppendArrayHeader(nil, 2)
	b = codec.AppendBytes(b, []byte("ab"))
	b = codec.AppendSlice(b, [][]byte{[]byte("cd")}, codec.AppendBytes)
	d := codec.NewDecoder(b, codec.Limits{})
	d.CopyBytes(true)
	require.NoError(t, d.Tuple(2))
	v, err := d.Bytes()
	require.NoError(t, err)
	require.Equal(t, []byte("ab"), v)
	require.NotSame(t, &b[2], &v[0], "CopyBytes makes Bytes copy")
	s, err := codec.ReadSlice(d, (*codec.Decoder).Bytes)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("cd")}, s)
	require.NotSame(t, &b[8], &s[0][0], "and the helpers built on it")

	err = codec.NewDecoder(b, codec.Limits{}).Tuple(3)
	require.ErrorIs(t, err, codec.ErrMalformed)
	require.EqualError(t, err, "codec: array of 2 elements where 3 were expected at offset 0")

	var encErr error
	out := codec.AppendMsgErr(nil, &Shape{Name: "x"}, &encErr)
	require.NoError(t, encErr)
	var sh Shape
	require.NoError(t, codec.NewDecoder(out, codec.Limits{}).ReadMsg(&sh))
	require.Equal(t, "x", sh.Name)
}
