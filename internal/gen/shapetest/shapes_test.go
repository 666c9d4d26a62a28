package shapetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/codec"
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/inproc"
	"github.com/plexus-ipc/plexus/transport/stream"
	"github.com/stretchr/testify/require"
)

func TestShapesInproc(t *testing.T) {
	a, b := inproc.Pipe(inproc.Config{})
	runAll(t, a, b)
}

func TestShapesStream(t *testing.T) {
	a, b, err := stream.Pair(stream.Config{})
	require.NoError(t, err)
	runAll(t, a, b)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// runAll serves Shapes and Other over the transport pair (host a, plugin
// b) and calls every method through the generated clients.
func runAll(t *testing.T, a, b transport.Transport) {
	im := newImpl()
	mux := session.NewMux()
	require.NoError(t, RegisterShapes(mux, im))
	require.NoError(t, RegisterOther(mux, other{}))
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{t}})
	host := session.New(a, session.Config{Role: session.Initiator, Logger: log})
	plugin := session.New(b, session.Config{Role: session.Acceptor, Mux: mux, Logger: log})
	t.Cleanup(func() { _ = host.Close(); _ = plugin.Close() })
	c := NewShapesClient(host)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("Add", func(t *testing.T) {
		sum, err := c.Add(ctx, 40, 2)
		require.NoError(t, err)
		require.Equal(t, int64(42), sum)
	})

	t.Run("Basics", func(t *testing.T) {
		for _, s := range []string{"", "héllo, 世界", string(make([]byte, 70000))} {
			b, i, i8, i16, i32, i64, u, u8, u16, u32, u64, f32, f64, str, err := c.Basics(ctx,
				true, math.MinInt, math.MinInt8, math.MaxInt16, math.MinInt32, math.MaxInt64,
				math.MaxUint, math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64,
				float32(math.Pi), -math.MaxFloat64, s)
			require.NoError(t, err)
			require.Equal(t, []any{true, math.MinInt, int8(math.MinInt8), int16(math.MaxInt16), int32(math.MinInt32), int64(math.MaxInt64),
				uint(math.MaxUint), uint8(math.MaxUint8), uint16(math.MaxUint16), uint32(math.MaxUint32), uint64(math.MaxUint64),
				float32(math.Pi), -math.MaxFloat64, s},
				[]any{b, i, i8, i16, i32, i64, u, u8, u16, u32, u64, f32, f64, str})
		}
	})

	t.Run("Composite", func(t *testing.T) {
		f := 2.5
		s := "deep"
		ps := &s
		at := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC)
		in := []any{[]byte("bytes"), Blob("blob"), Level(7), []int32{-1, 0, 1 << 30}, Names{"a", "b"},
			map[string][]string{"k": {"v1", "v2"}, "empty": {}}, Index{1: {X: 1, Tags: []string{"t"}}, 2: nil},
			&f, &ps, at, -90 * time.Minute,
			kvtest.Entry{Key: "e", Value: []byte("v"), Tags: []string{"x"}},
			&Point{X: -3, Y: 0.25}, []Point{{X: 1}, {Y: 2, Tags: []string{"y"}}}, [][]byte{[]byte("n1"), []byte("n2")}}
		out := composite(t, ctx, c, in)
		require.Equal(t, in, out)

		// Nil pointers, slices and maps stay nil.
		nils := []any{[]byte(nil), Blob(nil), Level(0), []int32(nil), Names(nil), map[string][]string(nil), Index(nil),
			(*float64)(nil), (**string)(nil), time.Unix(0, 0).UTC(), time.Duration(0), kvtest.Entry{}, (*Point)(nil), []Point(nil), [][]byte(nil)}
		require.Equal(t, nils, composite(t, ctx, c, nils))
	})

	t.Run("ServerStream", func(t *testing.T) {
		var got []Point
		require.NoError(t, c.Count(ctx, 3, 7, func(p Point) error { got = append(got, p); return nil }))
		require.Equal(t, []Point{{X: 3, Y: 1.5}, {X: 4, Y: 2}, {X: 5, Y: 2.5}, {X: 6, Y: 3}}, got)

		// An error from the callback ends the call and is returned.
		stop := errors.New("enough")
		n := 0
		err := c.Count(ctx, 0, 100, func(Point) error { n++; return stop })
		require.Same(t, stop, err)
		require.Equal(t, 1, n)

		// An application error from the handler comes back as its type.
		err = c.Count(ctx, -1, 5, func(Point) error { return nil })
		var nf *kvtest.NotFoundError
		require.True(t, errors.As(err, &nf), "%T %v", err, err)
		require.Equal(t, "negative", nf.Key)

		// The typed stream: abandoning it cancels the handler.
		st, err := c.OpenCount(ctx, 0, 1_000_000)
		require.NoError(t, err)
		p, err := st.Recv()
		require.NoError(t, err)
		require.Equal(t, Point{}, p)
		st.Close()
		select {
		case <-im.cancelled:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler's context was not cancelled by Close")
		}
		_, err = st.Recv()
		require.ErrorIs(t, err, plexus.ErrCanceled)
	})

	t.Run("ClientStream", func(t *testing.T) {
		i := int64(0)
		total, n, err := c.Sum(ctx, 3, func() (int64, error) {
			if i == 100 {
				return 0, io.EOF
			}
			i++
			return i, nil
		})
		require.NoError(t, err)
		require.Equal(t, int64(3*5050), total)
		require.Equal(t, 100, n)

		// The typed stream, and an empty one.
		st, err := c.OpenSum(ctx, 2)
		require.NoError(t, err)
		require.NoError(t, st.Send(20))
		require.NoError(t, st.Send(1))
		total, n, err = st.CloseAndRecv()
		require.NoError(t, err)
		require.Equal(t, []any{int64(42), 2}, []any{total, n})
		total, n, err = c.Sum(ctx, 2, func() (int64, error) { return 0, io.EOF })
		require.NoError(t, err)
		require.Equal(t, []any{int64(0), 0}, []any{total, n})

		// The handler fails part way: its application error, as its type.
		vals := []int64{1, 2, -1, 4, 5}
		_, _, err = c.Sum(ctx, 1, func() (int64, error) {
			if len(vals) == 0 {
				return 0, io.EOF
			}
			v := vals[0]
			vals = vals[1:]
			return v, nil
		})
		var nf *kvtest.NotFoundError
		require.True(t, errors.As(err, &nf), "%T %v", err, err)

		// The caller's own error abandons the call and is returned.
		mine := errors.New("source broke")
		_, _, err = c.Sum(ctx, 1, func() (int64, error) { return 0, mine })
		require.Same(t, mine, err)

		// A stream without results.
		chunks := [][]byte{make([]byte, 100), make([]byte, 5000), nil, []byte("x")}
		before := im.drained.Load()
		require.NoError(t, c.Drain(ctx, func() ([]byte, error) {
			if len(chunks) == 0 {
				return nil, io.EOF
			}
			b := chunks[0]
			chunks = chunks[1:]
			return b, nil
		}))
		require.Equal(t, int64(5101), im.drained.Load()-before)
	})

	t.Run("BidiStream", func(t *testing.T) {
		words := []string{"a", "bb", "ccc", "dddd", "e"}
		i := 0
		var got []Point
		err := c.Echo(ctx, "p", func() (string, error) {
			if i == len(words) {
				return "", io.EOF
			}
			i++
			return words[i-1], nil
		}, func(p Point) error { got = append(got, p); return nil })
		require.NoError(t, err)
		require.Len(t, got, len(words))
		for j, w := range words {
			require.Equal(t, Point{X: int64(j), Tags: []string{"p", w}}, got[j])
		}

		// Interleaved through the typed stream: each answer before the next send.
		st, err := c.OpenEcho(ctx, "q")
		require.NoError(t, err)
		for j := range 3 {
			require.NoError(t, st.Send(fmt.Sprint(j)))
			p, err := st.Recv()
			require.NoError(t, err)
			require.Equal(t, []string{"q", fmt.Sprint(j)}, p.Tags)
		}
		require.NoError(t, st.CloseSend())
		_, err = st.Recv()
		require.Equal(t, io.EOF, err)

		// The handler's application error ends the call.
		err = c.Echo(ctx, "p", func() (string, error) { return "fail", nil }, func(Point) error { return nil })
		var nf *kvtest.NotFoundError
		require.True(t, errors.As(err, &nf), "%T %v", err, err)
		require.Equal(t, "fail", nf.Key)
	})

	t.Run("Notification", func(t *testing.T) {
		at := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
		for i := range 3 {
			require.NoError(t, c.Log(ctx, fmt.Sprint("line ", i), at))
		}
		for i := range 3 {
			select {
			case l := <-im.logs:
				require.Equal(t, fmt.Sprint("line ", i), l.line)
				require.True(t, at.Equal(l.at))
			case <-time.After(10 * time.Second):
				t.Fatalf("notification %d not handled", i)
			}
		}
	})

	t.Run("TypedErrors", func(t *testing.T) {
		err := c.Fail(ctx, "conflict")
		var ce *ConflictError
		require.True(t, errors.As(err, &ce), "%T %v", err, err)
		require.Equal(t, ConflictError{Key: "k", Version: 9}, *ce)
		require.EqualError(t, err, `conflict on "k" at version 9`)

		err = c.Fail(ctx, "notfound")
		var nf *kvtest.NotFoundError
		require.True(t, errors.As(err, &nf), "%T %v", err, err)
		require.Equal(t, "nf", nf.Key)
		var st *plexus.Status
		require.False(t, errors.As(err, &st), "an application error is not a status")

		// Statuses and plain errors stay statuses, distinct from application errors.
		err = c.Fail(ctx, "status")
		require.ErrorIs(t, err, &plexus.Status{Code: plexus.FailedPrecondition})
		require.False(t, errors.As(err, &ce))
		err = c.Fail(ctx, "plain")
		require.Equal(t, plexus.Unknown, plexus.CodeOf(err))
		require.Contains(t, err.Error(), "plain failure")
	})

	t.Run("SecondService", func(t *testing.T) {
		up, err := NewOtherClient(host).Uptime(ctx)
		require.NoError(t, err)
		require.Equal(t, 42*time.Second, up)
	})

	t.Run("MalformedArguments", func(t *testing.T) {
		// A stream opened with arguments of the wrong shape fails with
		// INVALID_ARGUMENT before the implementation runs.
		st, err := host.NewStream(ctx, plexus.MethodID(ShapesService, "Count"), plexus.Raw(codec.AppendInt64(codec.AppendArrayHeader(nil, 1), 5)), true)
		require.NoError(t, err)
		err = st.Recv(nil)
		require.ErrorIs(t, err, plexus.ErrInvalidArgument)
		require.Contains(t, err.Error(), "Shapes.Count: codec: array of 1 elements where 2 were expected")

		// So does a malformed stream message.
		st, err = host.NewStream(ctx, plexus.MethodID(ShapesService, "Sum"), plexus.Raw(codec.AppendInt64(codec.AppendArrayHeader(nil, 1), 1)), false)
		require.NoError(t, err)
		require.NoError(t, st.Send(plexus.Raw(codec.AppendString(codec.AppendArrayHeader(nil, 1), "x"))))
		err = st.Recv(nil)
		require.ErrorIs(t, err, plexus.ErrInvalidArgument)
		require.Contains(t, err.Error(), "Shapes.Sum: codec:")

		// A malformed notification is dropped; the next one is handled.
		require.NoError(t, host.Notify(ctx, plexus.MethodID(ShapesService, "Log"), plexus.Raw{0x91, 0x01}))
		require.NoError(t, c.Log(ctx, "after", time.Unix(1, 0)))
		select {
		case l := <-im.logs:
			require.Equal(t, "after", l.line)
		case <-time.After(10 * time.Second):
			t.Fatal("notification not handled")
		}
	})
}

func composite(t *testing.T, ctx context.Context, c *ShapesClient, in []any) []any {
	t.Helper()
	bs, blob, lvl, xs, names, m, idx, p, pp, at, d, e, pe, ps, nested, err := c.Composite(ctx,
		in[0].([]byte), in[1].(Blob), in[2].(Level), in[3].([]int32), in[4].(Names), in[5].(map[string][]string),
		in[6].(Index), in[7].(*float64), in[8].(**string), in[9].(time.Time), in[10].(time.Duration),
		in[11].(kvtest.Entry), in[12].(*Point), in[13].([]Point), in[14].([][]byte))
	require.NoError(t, err)
	return []any{bs, blob, lvl, xs, names, m, idx, p, pp, at, d, e, pe, ps, nested}
}

// TestServiceDesc checks the descriptions the handshake compares.
func TestServiceDesc(t *testing.T) {
	kinds := map[string]plexus.MethodKind{
		"Add": plexus.Unary, "Basics": plexus.Unary, "Composite": plexus.Unary, "Count": plexus.ServerStream,
		"Sum": plexus.ClientStream, "Drain": plexus.ClientStream, "Echo": plexus.BidiStream,
		"Log": plexus.Notification, "Fail": plexus.Unary,
	}
	require.Equal(t, "shapetest.Shapes", ShapesServiceDesc.Name)
	require.Len(t, ShapesServiceDesc.Methods, len(kinds))
	sigs := map[uint64]string{}
	for _, m := range ShapesServiceDesc.Methods {
		require.Equal(t, kinds[m.Name], m.Kind, m.Name)
		require.Equal(t, plexus.MethodID(ShapesService, m.Name), m.ID)
		require.NotContains(t, sigs, m.Signature, "%s and %s", m.Name, sigs[m.Signature])
		sigs[m.Signature] = m.Name
	}
	require.Equal(t, "shapes.Other", OtherServiceDesc.Name)
	require.Equal(t, plexus.MethodID("shapes.Other", "Uptime"), OtherServiceDesc.Methods[0].ID)
}
