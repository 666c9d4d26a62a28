package codec_test

import (
	"bytes"
	"math/rand/v2"
	"time"

	"github.com/plexus-ipc/plexus/codec"
)

// args is a typical argument set, encoded the way generated code will
// encode a method's arguments: an array with one element per argument.
type args struct {
	ID   int64
	Name string
	Blob []byte
	Vals []int32
	Tags map[string]string
	When time.Time
}

func appendArgs(b []byte, a args) []byte {
	b = codec.AppendArrayHeader(b, 6)
	b = codec.AppendInt64(b, a.ID)
	b = codec.AppendString(b, a.Name)
	b = codec.AppendBytes(b, a.Blob)
	b = codec.AppendSlice(b, a.Vals, codec.AppendInt32)
	b = codec.AppendMap(b, a.Tags, codec.AppendString, codec.AppendString)
	return codec.AppendTime(b, a.When)
}

func readArgs(d *codec.Decoder) (a args, err error) {
	n, err := d.ArrayHeader()
	if err != nil {
		return a, err
	}
	if n != 6 {
		return a, errArity
	}
	if a.ID, err = d.Int64(); err != nil {
		return a, err
	}
	if a.Name, err = d.String(); err != nil {
		return a, err
	}
	if a.Blob, err = d.Bytes(); err != nil {
		return a, err
	}
	if a.Vals, err = codec.ReadSlice(d, (*codec.Decoder).Int32); err != nil {
		return a, err
	}
	if a.Tags, err = codec.ReadMap(d, (*codec.Decoder).String, (*codec.Decoder).String); err != nil {
		return a, err
	}
	a.When, err = d.Time()
	return a, err
}

var errArity = &codec.Error{Kind: codec.ErrMalformed, Msg: "wrong number of arguments"}

// typicalArgs is the benchmark's argument set: an int64, a 32-byte string,
// a 1 KiB []byte, 16 int32s, 4 string pairs and a time.
func typicalArgs() args {
	return args{
		ID:   1 << 40,
		Name: string(bytes.Repeat([]byte{'n'}, 32)),
		Blob: bytes.Repeat([]byte{0xab}, 1024),
		Vals: []int32{1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12, 13, -14, 15, 1 << 30},
		Tags: map[string]string{"trace": "abcdef0123456789", "user": "alice", "region": "eu-west", "tier": "gold"},
		When: time.Date(2025, 6, 1, 12, 30, 45, 123456789, time.UTC),
	}
}

func randArgs(r *rand.Rand) args {
	a := args{ID: randInt64(r), Name: randString(r), Blob: randBytes(r), When: time.Unix(0, randInt64(r)).UTC()}
	if n := r.IntN(20); n > 0 || r.IntN(2) == 0 {
		a.Vals = make([]int32, n)
		for i := range a.Vals {
			a.Vals[i] = int32(r.Uint32())
		}
	}
	if n := r.IntN(6); n > 0 || r.IntN(2) == 0 {
		a.Tags = map[string]string{}
		for range n {
			a.Tags[randString(r)] = randString(r)
		}
	}
	return a
}
