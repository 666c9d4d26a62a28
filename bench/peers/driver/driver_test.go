package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/bench/peers"
	"sync/atomic"
)

// TestMain lets the test binary be a load helper, as the driver's command
// is (only the loaded conditions start helpers).
func TestMain(m *testing.M) {
	MaybeHelper()
	os.Exit(m.Run())
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// plausible bounds each unit's values: above zero and below what no peer
// on any machine reaches.
var plausible = map[string]float64{"us": 1e6, "calls/s": 1e8, "GB/s": 1000, "ms": 60000}

// TestQuickIdle runs the driver as `go run ./cmd/peers -quick -conditions
// idle` does and checks that every peer produced every figure, with sane
// values, and that the three outputs are well formed.
func TestQuickIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the four plugins")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Rounds: 1, Quick: true, Conditions: []string{CondIdle}, Progress: logWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Errors {
		t.Errorf("measurement failed: %s", e)
	}
	want := len(AllPeers)
	if ringFloorSupported() {
		want++ // the bare ring's column
	}
	if len(rep.Peers) != want {
		t.Fatalf("%d peers in the report, want %d", len(rep.Peers), want)
	}
	checkFigures(t, rep)
	checkMachine(t, rep)
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	checkTable(t, rep, dir)
	checkPlot(t, rep, dir)
}

// checkFigures: every peer has every figure of the idle condition, each a
// plausible value, and its echo percentiles in order.
func checkFigures(t *testing.T, rep *Report) {
	for _, p := range rep.Peers {
		if p.Name == FloorName {
			checkFloor(t, rep)
			continue
		}
		for _, f := range Figures {
			c, ok := rep.Cell(CondIdle, p.Name, f.Key)
			if !ok {
				t.Errorf("%s: no %s", p.Name, f.Key)
				continue
			}
			v := c.Median
			if len(c.Values) != 1 || !(v > 0) || math.IsInf(v, 0) || v >= plausible[f.Unit] {
				t.Errorf("%s %s = %v (values %v): not in (0, %g)", p.Name, f.Key, v, c.Values, plausible[f.Unit])
			}
		}
		get := func(k string) float64 { c, _ := rep.Cell(CondIdle, p.Name, k); return c.Median }
		if p50, p90, p99 := get("echo_p50_us"), get("echo_p90_us"), get("echo_p99_us"); !(p50 <= p90 && p90 <= p99) {
			t.Errorf("%s: echo percentiles out of order: %v %v %v", p.Name, p50, p90, p99)
		}
	}
}

// checkFloor: the bare ring's column has its 64 callers' rate, a
// plausible one, and no other figure.
func checkFloor(t *testing.T, rep *Report) {
	for _, f := range Figures {
		c, ok := rep.Cell(CondIdle, FloorName, f.Key)
		if f.Key != "c64_calls_per_s" {
			if ok {
				t.Errorf("the bare ring has a %s: %v", f.Key, c.Values)
			}
			continue
		}
		if !ok || len(c.Values) != 1 || !(c.Median > 0) || c.Median >= plausible[f.Unit] {
			t.Errorf("the bare ring's %s: %+v", f.Key, c)
		}
	}
}

// checkTable: peers.md has a column per peer and a row per figure, and
// peers.json reads back with every cell.
func checkTable(t *testing.T, rep *Report, dir string) {
	md, err := os.ReadFile(filepath.Join(dir, "peers.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Peers {
		if !bytes.Contains(md, []byte(p.Label)) {
			t.Errorf("the table has no column for %s", p.Label)
		}
	}
	for _, f := range Figures {
		if !bytes.Contains(md, []byte("| "+f.Label+" (")) {
			t.Errorf("the table has no row for %s", f.Label)
		}
	}
	var back Report
	js, err := os.ReadFile(filepath.Join(dir, "peers.json"))
	if err == nil {
		err = json.Unmarshal(js, &back)
	}
	if err != nil || len(back.Cells) != len(rep.Cells) || len(back.Machine) != len(rep.Machine) {
		t.Errorf("peers.json: %v, %d cells and %d of the machine, want %d and %d", err, len(back.Cells), len(back.Machine), len(rep.Cells), len(rep.Machine))
	}
	if !bytes.Contains(md, []byte("The machine meanwhile")) || !bytes.Contains(md, []byte(MachineFigures[1].Label)) {
		t.Errorf("the table has no line for the machine's probe")
	}
}

// checkMachine: the machine's probe gave its figures for the idle
// condition, once, each in its range.
func checkMachine(t *testing.T, rep *Report) {
	get := func(k string) float64 {
		c, ok := rep.machineCell(CondIdle, k)
		if !ok || len(c.Values) != 1 {
			t.Errorf("the machine's %s: %+v", k, c)
		}
		return c.Median
	}
	lost, s20, s100 := get("lost_pct"), get("stalls_20us_per_s"), get("stalls_100us_per_s")
	if !(lost >= 0 && lost < 100) || !(s20 >= s100 && s100 >= 0) || s20 > 1e6 {
		t.Errorf("the machine: lost %v %%, stalls over 20 us %v/s, over 100 us %v/s", lost, s20, s100)
	}
	if runtime.GOOS == "linux" {
		if u := get("unseen_20us_per_s"); !(u >= 0 && u <= s20) {
			t.Errorf("the machine: %v unseen stalls over 20 us a second, of %v", u, s20)
		}
	}
}

// checkPlot: peers.svg is well-formed XML with a bar per peer in each
// charted panel (the legend's swatches and the backgrounds come on top).
func checkPlot(t *testing.T, rep *Report, dir string) {
	svg, err := os.ReadFile(filepath.Join(dir, "peers.svg"))
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	rects := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("peers.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	charted := 0
	for _, f := range Figures {
		if f.Chart {
			charted++
		}
	}
	if want := charted * len(rep.Peers); rects < want {
		t.Errorf("peers.svg has %d rects, want at least %d bars", rects, want)
	}
}

// fakeConn is an in-process Conn whose answers can be made wrong.
type fakeConn struct {
	impl   peers.Impl
	wrong  string // "echo", "put", "blob" or ""
	echoes *atomic.Int64
}

func (c *fakeConn) Echo(_ context.Context, b []byte) ([]byte, error) {
	if c.echoes != nil {
		c.echoes.Add(1)
	}
	out := bytes.Clone(c.impl.Echo(b))
	if c.wrong == "echo" && len(out) > 0 {
		out[len(out)-1] ^= 1
	}
	return out, nil
}

func (c *fakeConn) Put(_ context.Context, b []byte) (int, error) {
	n, err := c.impl.Put(b)
	if c.wrong == "put" {
		n--
	}
	return n, err
}

func (c *fakeConn) Blob(_ context.Context, n int) ([]byte, error) {
	b, err := c.impl.Blob(n)
	b = bytes.Clone(b)
	if c.wrong == "blob" && n > 100 {
		b[100] ^= 1
	}
	return b, err
}

func (c *fakeConn) Block(ctx context.Context) error { return c.impl.Block(ctx, nil) }
func (c *fakeConn) Pid() int                        { return 0 }
func (c *fakeConn) Close() error                    { return nil }

// TestDetectsWrongAnswers: a peer that answers wrongly fails its
// measurement, in the phase that saw it.
func TestDetectsWrongAnswers(t *testing.T) {
	sz := Sizes{EchoWarm: 2, EchoN: 10, Callers: 4, CallerCalls: 3, CallerWarm: 5,
		BlobSizes: []int{64 << 10}, BlobCalls: []int{2}, Starts: 1, Kills: 0, PhaseTimeout: 10 * time.Second}
	for _, wrong := range []string{"", "echo", "put", "blob"} {
		var echoes atomic.Int64
		p := peers.Peer{Name: "fake", Start: func(context.Context, string) (peers.Conn, error) {
			return &fakeConn{wrong: wrong, echoes: &echoes}, nil
		}}
		got, err := measurePeer(context.Background(), p, "", sz)
		if wrong == "" {
			if err != nil {
				t.Fatalf("a right peer failed: %v", err)
			}
			// One first call per start, the echo's warm-up and timed
			// calls, and each caller's warm-up and timed calls.
			want := int64(sz.Starts + sz.EchoWarm + sz.EchoN + sz.Callers*(sz.CallerWarm+sz.CallerCalls))
			if n := echoes.Load(); n != want {
				t.Errorf("right peer: %d Echo calls, want %d", n, want)
			}
			for _, k := range []string{"echo_p50_us", "c64_calls_per_s", "put_0mib_gbps", "blob_0mib_gbps", "start_ms"} {
				if !(got[k] > 0) {
					t.Errorf("right peer: %s = %v", k, got[k])
				}
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), wrong) {
			t.Errorf("a peer with a wrong %s: error %v", wrong, err)
		}
	}
}

// TestKillOfABlockedCaller: KillBlocked refuses a Conn without a process
// (and releases its blocked caller).
func TestKillOfABlockedCaller(t *testing.T) {
	c := &fakeConn{}
	_, err := KillBlocked(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "pid") {
		t.Fatalf("no pid: %v", err)
	}
}

// turnConn records the order of a copy's Put and Blob calls.
type turnConn struct {
	fakeConn
	calls []byte // 'p' or 'b', one per call
}

func (c *turnConn) Put(ctx context.Context, b []byte) (int, error) {
	c.calls = append(c.calls, 'p')
	return c.fakeConn.Put(ctx, b)
}

func (c *turnConn) Blob(ctx context.Context, n int) ([]byte, error) {
	c.calls = append(c.calls, 'b')
	return c.fakeConn.Blob(ctx, n)
}

// TestCopyRatesAlternate: CopyRates makes one untimed call each way and
// then n calls each way in copyChunks alternating turns, and reports a
// rate for both directions; a wrong answer in either fails it.
func TestCopyRatesAlternate(t *testing.T) {
	c := &turnConn{}
	put, blob, err := CopyRates(context.Background(), c, 64<<10, 10)
	if err != nil {
		t.Fatal(err)
	}
	if put <= 0 || blob <= 0 {
		t.Fatalf("rates %v, %v", put, blob)
	}
	// Turns of 2, 3, 2 and 3 calls (10 in 4), after one of each untimed.
	if want := "pb" + "ppbb" + "pppbbb" + "ppbb" + "pppbbb"; string(c.calls) != want {
		t.Fatalf("calls %s, want %s", c.calls, want)
	}
	for _, wrong := range []string{"put", "blob"} {
		if _, _, err := CopyRates(context.Background(), &turnConn{fakeConn: fakeConn{wrong: wrong}}, 64<<10, 10); err == nil {
			t.Errorf("a wrong %s passed", wrong)
		}
	}
}

// TestWarmUpLastsWarmFor: the echo's warm-up makes its EchoWarm calls,
// and more until WarmFor has passed since the plugin's start; without
// WarmFor, exactly EchoWarm.
func TestWarmUpLastsWarmFor(t *testing.T) {
	for _, warmFor := range []time.Duration{0, 30 * time.Millisecond} {
		var echoes atomic.Int64
		c := &fakeConn{echoes: &echoes}
		sz := Sizes{EchoWarm: 5, WarmFor: warmFor}
		started := time.Now()
		if err := warmUp(context.Background(), c, sz, started); err != nil {
			t.Fatal(err)
		}
		el := time.Since(started)
		switch n := echoes.Load(); {
		case warmFor == 0 && n != 5:
			t.Errorf("no WarmFor: %d calls, want 5", n)
		case warmFor > 0 && (el < warmFor || n <= 5):
			t.Errorf("WarmFor %v: warm-up ended after %v and %d calls", warmFor, el, n)
		}
	}
}
