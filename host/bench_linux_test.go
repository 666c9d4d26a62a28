package host_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/shm"
)

// buildDirs are removed by TestMain after the tests.
var buildDirs []string

var echoPlugin struct {
	once sync.Once
	path string
	err  error
}

// echoPluginPath builds testdata/echoplugin once per test binary.
func echoPluginPath(b testing.TB) string {
	echoPlugin.once.Do(func() {
		dir, err := filepathAbs("testdata/echoplugin")
		if err != nil {
			echoPlugin.err = err
			return
		}
		tmp, err := os.MkdirTemp("", "plexus-echoplugin-")
		if err != nil {
			echoPlugin.err = err
			return
		}
		buildDirs = append(buildDirs, tmp)
		out := filepath.Join(tmp, "echoplugin")
		cmd := exec.Command("go", "build", "-o", out, ".")
		cmd.Dir = dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			echoPlugin.err = errors.New(string(msg))
			return
		}
		echoPlugin.path = out
	})
	require.NoError(b, echoPlugin.err)
	return echoPlugin.path
}

func filepathAbs(p string) (string, error) { return filepath.Abs(p) }

func benchConfig(b testing.TB) host.Config {
	return host.Config{Path: echoPluginPath(b), Cookie: "plexus-echo",
		Versions: map[uint32][]host.ServiceDesc{1: {{Name: "bench.Echo", Methods: []host.MethodDesc{{Name: "Echo", Signature: 1}}}}},
		Logger:   hclog.NewNullLogger()}
}

// smallSegment is a segment of about 0.6 MiB.
var smallSegment = shm.Config{RingCapacity: 256,
	HostClasses:   []shm.Class{{Size: 256, Count: 256}, {Size: 4 << 10, Count: 64}},
	PluginClasses: []shm.Class{{Size: 256, Count: 256}, {Size: 4 << 10, Count: 64}}}

var benchEchoID = plexus.MethodID("bench.Echo", "Echo")

func percentile(d []time.Duration, p float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p)]
}

// BenchmarkStartToFirstCall: New, Start and the first completed call of a
// minimal plugin binary (the brief's "plugin start to first completed
// call", here including the creation and pre-faulting of the segment),
// then Close, which is not timed. "default" uses the default segment
// (about 27 MiB of slots, pre-faulted by both sides), "small" one of
// about 0.6 MiB.
func BenchmarkStartToFirstCall(b *testing.B) {
	forSegments(b, func(b *testing.B, cfg host.Config) {
		var lat []time.Duration
		for b.Loop() {
			t0 := time.Now()
			c, err := host.New(cfg)
			require.NoError(b, err)
			require.NoError(b, c.Start(context.Background()))
			var resp plexus.Raw
			require.NoError(b, c.Invoke(context.Background(), benchEchoID, plexus.Raw("x"), &resp))
			lat = append(lat, time.Since(t0))
			b.StopTimer()
			require.NoError(b, c.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	})
}

// forSegments runs bench as a sub-benchmark with the default segment
// ("default") and with smallSegment ("small"), each time with a fresh
// benchConfig.
func forSegments(b *testing.B, bench func(b *testing.B, cfg host.Config)) {
	for _, seg := range []struct {
		name string
		cfg  shm.Config
	}{{"default", shm.Config{}}, {"small", smallSegment}} {
		b.Run(seg.name, func(b *testing.B) {
			cfg := benchConfig(b)
			cfg.Segment = seg.cfg
			bench(b, cfg)
		})
	}
}

// BenchmarkKillToError: SIGKILL of the plugin to the end of the host's
// session, which is when every call in flight fails with PeerDied (the
// brief's "kill -9 of a plugin to an error in the caller").
func BenchmarkKillToError(b *testing.B) {
	forSegments(b, func(b *testing.B, cfg host.Config) {
		var lat []time.Duration
		for b.Loop() {
			b.StopTimer()
			c, err := host.New(cfg)
			require.NoError(b, err)
			require.NoError(b, c.Start(context.Background()))
			s := c.Session()
			b.StartTimer()
			t0 := time.Now()
			require.NoError(b, syscall.Kill(c.Pid(), syscall.SIGKILL))
			<-s.Done()
			lat = append(lat, time.Since(t0))
			b.StopTimer()
			require.True(b, errors.Is(s.Err(), plexus.ErrPeerDied))
			require.NoError(b, c.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds()), "p50-us")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-us")
	})
}
