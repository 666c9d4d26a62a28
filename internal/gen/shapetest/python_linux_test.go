package shapetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/plexustest"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/internal/gen/kvtest"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/inproc"
)

const pythonExe = "/usr/bin/python3"

// lockedBuf collects the log of a test host or plugin, shown if the test fails.
type lockedBuf = plexustest.LogBuffer

// startPython starts testdata/python/shapes_plugin.py, which serves Shapes
// and Other through the generated shapetest_plexus.py, with the host
// serving im as its own Shapes (the plugin's Other.Uptime calls it).
func startPython(t *testing.T, im *impl) *host.Client {
	t.Helper()
	if out, err := exec.Command(pythonExe, "-c", "import msgpack").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import msgpack: run python/install-deps.sh: %v\n%s", pythonExe, err, out)
	}
	here, err := filepath.Abs(".")
	require.NoError(t, err)
	pyRoot := filepath.Join(here, "..", "..", "..", "python")
	mux := session.NewMux()
	require.NoError(t, RegisterShapes(mux, im))
	var logs lockedBuf
	c, err := host.New(host.Config{
		Path: pythonExe, Args: []string{filepath.Join(here, "testdata", "python", "shapes_plugin.py")},
		Env:  []string{"PYTHONPATH=" + pyRoot + ":" + here, "PYTHONDONTWRITEBYTECODE=1"},
		Link: host.LinkSharedMemory, Name: "python-shapes", Cookie: "shapetest-python",
		Versions:     map[uint32][]host.ServiceDesc{1: {ShapesServiceDesc, OtherServiceDesc}},
		HostServices: mux,
		Logger:       hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug, Mutex: &sync.Mutex{}}),
		StartTimeout: 20 * time.Second, GracePeriod: 2 * time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.Close()
		if t.Failed() {
			t.Logf("plugin log:\n%s", logs.String())
		}
	})
	require.NoError(t, c.Start(context.Background()))
	return c
}

// goShapes serves the Go implementation over an in-process session pair.
func goShapes(t *testing.T, im *impl) *ShapesClient {
	a, b := inproc.Pipe(inproc.Config{})
	mux := session.NewMux()
	require.NoError(t, RegisterShapes(mux, im))
	require.NoError(t, RegisterOther(mux, other{}))
	hs := session.New(a, session.Config{Role: session.Initiator})
	ps := session.New(b, session.Config{Role: session.Acceptor, Mux: mux})
	t.Cleanup(func() { _ = hs.Close(); _ = ps.Close() })
	return NewShapesClient(hs)
}

// outcome is what a call returned, comparable across implementations:
// the values, or the error's type and text.
func outcome(vals []any, err error) []any {
	if err == nil {
		return vals
	}
	var nf *kvtest.NotFoundError
	var ce *ConflictError
	var st *plexus.Status
	switch {
	case errors.As(err, &nf):
		return []any{"NotFoundError", *nf}
	case errors.As(err, &ce):
		return []any{"ConflictError", *ce, err.Error()}
	case errors.As(err, &st):
		return []any{"status", st.Code}
	}
	return []any{"error", err.Error()}
}

// shapeCalls makes the same calls, of every shape and with values of
// every supported type, and returns their outcomes.
func shapeCalls(t *testing.T, ctx context.Context, c *ShapesClient) [][]any {
	var out [][]any
	add := func(err error, vals ...any) {
		out = append(out, outcome(vals, err))
	}
	sum, err := c.Add(ctx, 40, 2)
	add(err, sum)
	for _, s := range []string{"", "héllo, 世界", string(make([]byte, 70000)), "\xff\xfe not utf-8"} {
		b, i, i8, i16, i32, i64, u, u8, u16, u32, u64, f32, f64, str, err := c.Basics(ctx,
			true, math.MinInt, math.MinInt8, math.MaxInt16, math.MinInt32, math.MaxInt64,
			math.MaxUint, math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64,
			float32(math.Pi), -math.MaxFloat64, s)
		add(err, b, i, i8, i16, i32, i64, u, u8, u16, u32, u64, f32, f64, str)
		b, i, i8, i16, i32, i64, u, u8, u16, u32, u64, f32, f64, str, err = c.Basics(ctx,
			false, 200, -33, -129, 40000, -1<<40, 128, 128, 256, 70000, 1<<40, float32(math.Inf(-1)), math.SmallestNonzeroFloat64, s)
		add(err, b, i, i8, i16, i32, i64, u, u8, u16, u32, u64, f32, f64, str)
	}
	f, s := 2.5, "deep"
	ps := &s
	for _, in := range [][]any{
		{[]byte("bytes"), Blob(make([]byte, 100000)), Level(7), []int32{-1, 0, 1 << 30}, Names{"a", "b"},
			map[string][]string{"k": {"v1", "v2"}, "empty": {}}, Index{1: {X: 1, Tags: []string{"t"}}, 2: nil},
			&f, &ps, time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC), -90 * time.Minute,
			kvtest.Entry{Key: "e", Value: []byte("v"), Tags: []string{"x"}},
			&Point{X: -3, Y: 0.25}, []Point{{X: 1}, {Y: 2, Tags: []string{"y"}}}, [][]byte{[]byte("n1"), {}, nil}},
		{[]byte(nil), Blob(nil), Level(0), []int32(nil), Names(nil), map[string][]string(nil), Index(nil),
			(*float64)(nil), (**string)(nil), time.Unix(0, 0).UTC(), time.Duration(0), kvtest.Entry{}, (*Point)(nil), []Point(nil), [][]byte(nil)},
		{[]byte{}, Blob{}, Level(65535), []int32{}, Names{}, map[string][]string{}, Index{},
			&f, &ps, time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), time.Duration(math.MinInt64), kvtest.Entry{}, &Point{}, []Point{}, [][]byte{}},
		{[]byte("t"), Blob("u"), Level(1), []int32{1}, Names{""}, map[string][]string{"": nil}, Index{0: nil},
			&f, &ps, time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC), time.Nanosecond, kvtest.Entry{}, &Point{}, []Point{}, [][]byte{}},
	} {
		r := composite(t, ctx, c, in)
		add(nil, r...)
	}
	var pts []Point
	err = c.Count(ctx, 3, 7, func(p Point) error { pts = append(pts, p); return nil })
	add(err, pts)
	add(c.Count(ctx, -1, 5, func(Point) error { return nil }))
	i := int64(0)
	total, n, err := c.Sum(ctx, 3, func() (int64, error) {
		if i == 100 {
			return 0, io.EOF
		}
		i++
		return i, nil
	})
	add(err, total, n)
	vals := []int64{1, -1}
	total, n, err = c.Sum(ctx, 2, func() (int64, error) {
		if len(vals) == 0 {
			return 0, io.EOF
		}
		v := vals[0]
		vals = vals[1:]
		return v, nil
	})
	add(err, total, n)
	chunks := [][]byte{make([]byte, 100), make([]byte, 300000), nil, []byte("x")}
	add(c.Drain(ctx, func() ([]byte, error) {
		if len(chunks) == 0 {
			return nil, io.EOF
		}
		b := chunks[0]
		chunks = chunks[1:]
		return b, nil
	}))
	words := []string{"a", "bb", "ccc", "fail"}
	j := 0
	var got []Point
	err = c.Echo(ctx, "p", func() (string, error) {
		if j == len(words) {
			return "", io.EOF
		}
		j++
		return words[j-1], nil
	}, func(p Point) error { got = append(got, p); return nil })
	add(err, got)
	for _, kind := range []string{"conflict", "notfound", "status"} {
		add(c.Fail(ctx, kind))
	}
	return out
}

// TestPythonGenerated: a Go host calls, through the generated Go client,
// a Python plugin that implements the generated Python base classes,
// over shared memory: every call shape, every supported type, typed
// errors; each outcome must equal the Go implementation's. The plugin
// then calls the host's Shapes through the generated Python client.
func TestPythonGenerated(t *testing.T) {
	hostImpl := newImpl()
	c := startPython(t, hostImpl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	py := NewShapesClient(c)
	want := shapeCalls(t, ctx, goShapes(t, newImpl()))
	got := shapeCalls(t, ctx, py)
	require.Equal(t, len(want), len(got))
	for i := range want {
		require.Equal(t, want[i], got[i], "call %d", i)
	}

	t.Run("PlainError", func(t *testing.T) {
		err := py.Fail(ctx, "plain")
		var st *plexus.Status
		require.True(t, errors.As(err, &st), "%T %v", err, err)
		require.Equal(t, plexus.Unknown, st.Code)
		require.Contains(t, st.Message, "plain failure")
	})

	t.Run("Notification", func(t *testing.T) {
		at := time.Date(2024, 2, 29, 12, 0, 0, 5, time.UTC)
		require.NoError(t, py.Log(ctx, "line", at))
		select {
		case l := <-hostImpl.logs:
			require.Equal(t, "py:line", l.line)
			require.True(t, at.Equal(l.at), "%v", l.at)
		case <-time.After(20 * time.Second):
			t.Fatal("the plugin did not echo the notification")
		}
	})

	t.Run("CancelStream", func(t *testing.T) {
		st, err := py.OpenCount(ctx, 0, 1_000_000)
		require.NoError(t, err)
		p, err := st.Recv()
		require.NoError(t, err)
		require.Equal(t, Point{}, p)
		st.Close()
		_, err = st.Recv()
		require.ErrorIs(t, err, plexus.ErrCanceled)
	})

	t.Run("CallsHost", func(t *testing.T) {
		up, err := NewOtherClient(c).Uptime(ctx)
		require.NoError(t, err)
		require.Equal(t, 42*time.Second, up)
		select {
		case l := <-hostImpl.logs:
			require.Equal(t, "from python", l.line)
		case <-time.After(20 * time.Second):
			t.Fatal("the plugin's notification did not arrive")
		}
	})

	t.Run("Malformed", func(t *testing.T) {
		// Arguments that do not decode: INVALID_ARGUMENT before the handler.
		for _, req := range [][]byte{{0x92, 0x01}, {0x91, 0x01}, {0x92, 0xa1, 'x', 0x01}, {0x93, 1, 2, 3},
			{0x92, 1, 2, 0}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0xc1}, {}} {
			var resp plexus.Raw
			err := c.Invoke(ctx, plexus.MethodID(ShapesService, "Add"), plexus.Raw(req), &resp)
			var st *plexus.Status
			require.True(t, errors.As(err, &st), "%x: %T %v", req, err, err)
			require.Equal(t, plexus.InvalidArgument, st.Code, "%x: %v", req, err)
			require.True(t, strings.HasPrefix(st.Message, "Shapes.Add: "), st.Message)
		}
		// The plugin still serves.
		sum, err := py.Add(ctx, 1, 2)
		require.NoError(t, err)
		require.Equal(t, int64(3), sum)
	})
}

// TestPythonHostedCompile checks that every generated module compiles.
func TestPythonModuleCompiles(t *testing.T) {
	for _, f := range []string{"shapetest_plexus.py", filepath.Join("..", "kvtest", "kvtest_plexus.py"), filepath.Join("..", "leasetest", "leasetest_plexus.py")} {
		out, err := exec.Command(pythonExe, "-c", fmt.Sprintf("import ast,sys; ast.parse(open(%q).read())", f)).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	_ = os.Getenv
}
