package timeslice

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary the child of TestChildInheritsAndNiceKept.
const childEnv = "TIMESLICE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		child()
		return
	}
	os.Exit(m.Run())
}

// child reports its own slice and, after lowering its threads' priority
// to nice 5 and setting a slice of 300 us, the nice value and slice it
// has, as "inherited nice slice".
func child() {
	inherited, err := Get()
	if err != nil {
		panic(err)
	}
	ents, _ := os.ReadDir("/proc/self/task")
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 5)
	}
	if err := Set(300 * time.Microsecond); err != nil {
		panic(err)
	}
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		panic(err)
	}
	os.Stdout.WriteString(strconv.FormatInt(int64(inherited), 10) + " " + strconv.Itoa(int(a.Nice)) + " " +
		strconv.FormatUint(a.Runtime, 10) + "\n")
}

// slices reads every thread's slice.
func slices(t *testing.T) map[int]time.Duration {
	t.Helper()
	got, err := Of(os.Getpid())
	require.NoError(t, err)
	return got
}

// newThread starts a goroutine on a thread of its own, created now, and
// returns that thread's id; the thread ends when stop is closed (a
// goroutine that exits locked takes its thread with it).
func newThread(t *testing.T, stop chan struct{}, setup func(tid int)) int {
	t.Helper()
	tids := make(chan int)
	go func() {
		runtime.LockOSThread()
		tid := unix.Gettid()
		if setup != nil {
			setup(tid)
		}
		tids <- tid
		<-stop
	}()
	return <-tids
}

// Set reaches every thread the process has, and threads started after it
// inherit the slice; Set(0) gives them back the kernel's default; values
// out of the kernel's range are clamped to it.
func TestSetEveryThread(t *testing.T) {
	def, err := Get()
	require.NoError(t, err)
	require.Positive(t, def, "the kernel reports its default slice as a length")
	t.Cleanup(func() { _ = Set(0) })

	stop := make(chan struct{})
	defer close(stop)
	before := newThread(t, stop, nil)

	require.NoError(t, Set(250*time.Microsecond))
	got := slices(t)
	require.Equal(t, 250*time.Microsecond, got[before], "a thread there before")
	require.GreaterOrEqual(t, len(got), 2)
	require.NoError(t, Await(os.Getpid(), 250*time.Microsecond, time.Second))
	after := newThread(t, stop, nil)
	require.Equal(t, 250*time.Microsecond, slices(t)[after], "a thread started later inherits it")

	require.NoError(t, Set(0))
	require.NoError(t, Await(os.Getpid(), def, time.Second), "back to the default")

	require.NoError(t, Set(time.Microsecond))
	require.Equal(t, Min, slices(t)[before])
	require.NoError(t, Set(time.Second))
	require.Equal(t, Max, slices(t)[before])
}

// A thread of another policy (batch here) keeps its attributes.
func TestSetLeavesOtherPolicies(t *testing.T) {
	t.Cleanup(func() { _ = Set(0) })
	stop := make(chan struct{})
	defer close(stop)
	batch := newThread(t, stop, func(tid int) {
		a := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_BATCH}
		require.NoError(t, unix.SchedSetAttr(tid, &a, 0))
	})
	was, err := unix.SchedGetAttr(batch, 0)
	require.NoError(t, err)
	require.NoError(t, Set(200*time.Microsecond))
	now, err := unix.SchedGetAttr(batch, 0)
	require.NoError(t, err)
	require.Equal(t, uint32(unix.SCHED_BATCH), now.Policy)
	require.Equal(t, was.Runtime, now.Runtime, "the batch thread's slice is untouched")
	require.Equal(t, 200*time.Microsecond, slices(t)[unix.Gettid()], "the others have theirs")
}

// A child process inherits the slice (so a plugin the host starts has the
// host's), and Set keeps a thread's nice value: a child that lowered its
// priority to nice 5 still has nice 5 after its own Set.
func TestChildInheritsAndNiceKept(t *testing.T) {
	t.Cleanup(func() { _ = Set(0) })
	require.NoError(t, Set(150*time.Microsecond))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.Output()
	require.NoError(t, err)
	f := strings.Fields(string(out))
	require.Len(t, f, 3, "%q", out)
	require.Equal(t, strconv.FormatInt(int64(150*time.Microsecond), 10), f[0], "inherited from the parent")
	require.Equal(t, "5", f[1], "nice kept")
	require.Equal(t, strconv.FormatInt(int64(300*time.Microsecond), 10), f[2], "the child's own Set")
}

// Ask sets a value once: asked again for it, it leaves alone a thread
// whose slice was changed in between; a new value is set, and a negative
// one changes nothing.
func TestAskOncePerValue(t *testing.T) {
	t.Cleanup(func() { _ = Set(0) })
	runtime.LockOSThread() // Gettid is this goroutine's thread throughout
	defer runtime.UnlockOSThread()
	require.NoError(t, Ask(400*time.Microsecond))
	require.Equal(t, 400*time.Microsecond, slices(t)[unix.Gettid()])
	time.Sleep(3 * stragglerPass) // Set's last pass is done
	a := unix.SchedAttr{Size: unix.SizeofSchedAttr, Runtime: uint64(500 * time.Microsecond)}
	require.NoError(t, unix.SchedSetAttr(unix.Gettid(), &a, 0)) // someone else's change
	require.NoError(t, Ask(400*time.Microsecond))
	require.Equal(t, 500*time.Microsecond, slices(t)[unix.Gettid()], "asked again: nothing done")
	require.NoError(t, Ask(600*time.Microsecond))
	require.Equal(t, 600*time.Microsecond, slices(t)[unix.Gettid()])
	require.NoError(t, Set(0))
	require.NoError(t, Ask(600*time.Microsecond))
	require.Equal(t, 600*time.Microsecond, slices(t)[unix.Gettid()], "asked again after another Set: set again")
	require.NoError(t, Ask(-1))
	require.Equal(t, 600*time.Microsecond, slices(t)[unix.Gettid()], "negative: left alone")
}
