package loadgen

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/internal/procstat"
	"github.com/plexus-ipc/plexus/internal/timeslice"
)

// children lists the processes whose parent is this one.
func children(t *testing.T) []int {
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := procstat.Fields(pid)
		if err != nil {
			continue // gone
		}
		if pp, _ := procstat.Int(f, procstat.Ppid); int(pp) == os.Getpid() {
			out = append(out, pid)
		}
	}
	return out
}

// The helpers run with the kernel's default time slice even when the
// process that starts them asked for a short one (a plexus host, whose
// children inherit it): a load is other programs.
func TestHelpersHaveDefaultSlice(t *testing.T) {
	t.Cleanup(func() { _ = timeslice.Set(0) })
	require.NoError(t, timeslice.Set(0))
	def, err := timeslice.Get()
	require.NoError(t, err)
	require.NoError(t, timeslice.Set(200*time.Microsecond))
	require.NotEqual(t, def, 200*time.Microsecond)

	stop, err := Start(Busy) // returns after the ramp-up: the helpers have reset theirs
	require.NoError(t, err)
	defer func() { require.NoError(t, stop()) }()
	kids := children(t)
	require.Len(t, kids, 2)
	for _, pid := range kids {
		require.NoError(t, timeslice.Await(pid, def, time.Second), "helper %d", pid)
	}
}
