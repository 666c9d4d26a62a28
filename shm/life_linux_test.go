package shm

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/stretchr/testify/require"
)

// lifePair is a host segment and a plugin-side copy of it in this process,
// with their endpoints.
func lifePair(t *testing.T) (host, plugin *Endpoint) {
	t.Helper()
	hs, err := Create(Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hs.Close() })
	ps, err := openCopy(t, hs)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })
	host, err = hs.Endpoint()
	require.NoError(t, err)
	plugin, err = ps.Endpoint()
	require.NoError(t, err)
	return host, plugin
}

// watch runs WatchPeerLife on its own goroutine and delivers its answer.
// The test's cleanup interrupts the watch and waits for it before the
// segments are unmapped (cleanups run last first): a test that failed
// must not leave it reading a word that is gone.
func watch(t *testing.T, e *Endpoint) <-chan bool {
	res := make(chan bool, 1)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		res <- e.WatchPeerLife()
	}()
	t.Cleanup(func() {
		e.Interrupt()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			panic("shm test: WatchPeerLife did not return after Interrupt")
		}
	})
	return res
}

func answer(t *testing.T, res <-chan bool, within time.Duration) bool {
	t.Helper()
	select {
	case v := <-res:
		return v
	case <-time.After(within):
		t.Fatalf("WatchPeerLife did not return within %v", within)
		return false
	}
}

// TestLifeHolderThreadExit: the thread holding the plugin's life word
// exits (a goroutine that ends while locked takes its thread with it)
// while the process lives on; the host's watch learns of it from the
// kernel's mark alone.
func TestLifeHolderThreadExit(t *testing.T) {
	host, plugin := lifePair(t)
	res := watch(t, host)
	word := plugin.seg.m.sideWord32(Plugin, sideLife)
	registered := make(chan error, 1)
	hold := func() {
		runtime.LockOSThread()
		_, err := registerLife(word)
		registered <- err
		// Returning while locked ends the thread: the kernel walks its
		// robust list.
	}
	go func() {
		// The runtime never ends the main thread (it wedges it instead),
		// so the holder must not be on it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if syscall.Gettid() != os.Getpid() {
			hold()
			return
		}
		done := make(chan struct{})
		go func() { defer close(done); hold() }()
		<-done
	}()
	require.NoError(t, <-registered)
	require.True(t, answer(t, res, 5*time.Second), "the holder's exit is reported as the peer's death")
	require.NotZero(t, word.Load()&futexOwnerDied)
}

// TestLifeHeldAndReleased: HoldLife names a live thread in the word and a
// watch sees no death; Close of the holding segment undoes the
// registration, and the watch ends only with Interrupt.
func TestLifeHeldAndReleased(t *testing.T) {
	host, plugin := lifePair(t)
	require.NoError(t, plugin.HoldLife())
	require.NoError(t, plugin.HoldLife(), "a second HoldLife does nothing")
	word := host.seg.m.sideWord32(Plugin, sideLife)
	require.NotZero(t, word.Load(), "the word names the holding thread")
	require.Zero(t, word.Load()&futexOwnerDied)
	res := watch(t, host)
	select {
	case v := <-res:
		t.Fatalf("watch returned %v while the holder lives", v)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, plugin.seg.Close())
	host.Interrupt()
	require.False(t, answer(t, res, 5*time.Second))
	require.Zero(t, word.Load()&futexOwnerDied, "a released word is not marked when its thread goes")
}

// TestLifeInterruptEndsWatch: Interrupt ends a watch on a word nobody
// holds, and a watch started after Interrupt returns at once.
func TestLifeInterruptEndsWatch(t *testing.T) {
	host, _ := lifePair(t)
	res := watch(t, host)
	time.Sleep(20 * time.Millisecond) // let it sleep on the word
	host.Interrupt()
	require.False(t, answer(t, res, 5*time.Second))
	require.False(t, answer(t, watch(t, host), 5*time.Second))
}

// TestLifeHostileWord: a peer that rewrites its word in a loop wakes the
// watch for nothing; the watch is slowed to about one look per
// lifeBackoff instead of spinning, and never reports a death the word
// does not claim. A word that claims one is believed.
func TestLifeHostileWord(t *testing.T) {
	host, plugin := lifePair(t)
	word := plugin.seg.m.sideWord32(Plugin, sideLife)
	res := watch(t, host)
	var stop atomic.Bool
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		for i := uint32(1); !stop.Load() && i < 1<<26; i++ {
			word.Store(i & 0x3fffffff) // never the death bit
			futexWakeAll(word)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	<-done
	looks := host.life.looks.Load()
	// The documented rate, written out (not derived from the code under
	// test), over the time the peer really rewrote the word: a loaded
	// machine may have slept the test much longer than asked.
	spell := time.Since(start)
	bound := int64(spell/(10*time.Millisecond)) + 24
	require.LessOrEqual(t, looks, bound, "a peer rewriting its word must not make the watch spin")
	select {
	case v := <-res:
		t.Fatalf("watch returned %v on a word that claims no death", v)
	default:
	}
	word.Store(futexOwnerDied)
	futexWakeAll(word)
	require.True(t, answer(t, res, 5*time.Second), "a word marked dead is the peer's death")
}

func init() {
	xproc.Register("shm-life", func() int {
		seg, err := Open(FdsFrom(3), Config{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child open:", err)
			return 1
		}
		e, err := seg.Endpoint()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child endpoint:", err)
			return 1
		}
		if err := e.HoldLife(); err != nil {
			fmt.Fprintln(os.Stderr, "child hold:", err)
			return 1
		}
		time.Sleep(time.Minute) // until killed
		return 1
	})
}

// TestLifeCrossProcessKill: a plugin process holding its word is killed
// with SIGKILL; the host's watch returns, and the kernel's mark is there.
func TestLifeCrossProcessKill(t *testing.T) {
	seg, err := Create(Config{})
	require.NoError(t, err)
	defer seg.Close()
	files, err := seg.Files()
	require.NoError(t, err)
	child := xproc.Start(t, "shm-life", files, nil)
	for _, f := range files {
		f.Close()
	}
	host, err := seg.Endpoint()
	require.NoError(t, err)
	word := seg.m.sideWord32(Plugin, sideLife)
	res := watch(t, host)
	deadline := time.Now().Add(10 * time.Second)
	for word.Load() == 0 {
		require.True(t, time.Now().Before(deadline), "the child did not hold its word within 10 s")
		time.Sleep(time.Millisecond)
	}
	t0 := time.Now()
	require.NoError(t, child.Cmd.Process.Signal(syscall.SIGKILL))
	require.True(t, answer(t, res, 10*time.Second))
	t.Logf("death noticed %v after the kill", time.Since(t0))
	require.NotZero(t, word.Load()&futexOwnerDied)
	require.Error(t, child.Wait(10*time.Second), "the child was killed")
}
