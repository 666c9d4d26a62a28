package loadgen

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	MaybeHelper()
	os.Exit(m.Run())
}

// cpuTicks is the machine's busy time so far (user + nice + system), in
// clock ticks, from /proc/stat.
func cpuTicks(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/stat")
	require.NoError(t, err)
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var sum int64
	for _, s := range f[1:4] {
		v, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		sum += v
	}
	return sum
}

// TestLoadHolds: each condition's helpers keep the machine busy (at least
// one core's worth over the sample, against at most two helpers' two
// cores' worth), and stop reports that they ran throughout.
func TestLoadHolds(t *testing.T) {
	for _, cond := range []string{Busy, Alloc} {
		stop, err := Start(cond)
		require.NoError(t, err, cond)
		t0, c0 := time.Now(), cpuTicks(t)
		time.Sleep(500 * time.Millisecond)
		busy := float64(cpuTicks(t)-c0) / 100 / time.Since(t0).Seconds() // USER_HZ is 100 on Linux
		require.NoError(t, stop(), cond)
		require.GreaterOrEqual(t, busy, 1.0, "%s: the machine was busy %.2f cores", cond, busy)
	}
	stop, err := Start(Idle)
	require.NoError(t, err)
	require.NoError(t, stop())
	_, err = Start("nope")
	require.Error(t, err)
}
