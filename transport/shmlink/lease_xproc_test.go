//go:build linux

package shmlink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/xproc"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
)

// Session leases across processes: the host sends each request as a lease
// it filled in place, the plugin answers with a lease of its own, and both
// sides check every byte.

const leaseService = "test.Lease"

func init() {
	xproc.Register("shm-lease-echo", leaseEchoChild)
	xproc.Register("shm-lease-hold", leaseHoldChild)
}

// leasePlan is the sequence of request and response windows of the
// source, the same in parent and child for the same seed and count.
type leasePlan struct {
	src        []byte
	sizes      []int // request i has sizes[i] bytes, its response sizes[(i+1)%count]
	reqOff     []int
	respOff    []int
	count, max int
}

func newLeasePlan(seed uint64, count, max int) *leasePlan {
	r := rand.New(rand.NewPCG(seed, 2))
	p := &leasePlan{src: source(seed), sizes: exchangeSizes(r, count, max), count: count, max: max}
	for range count {
		p.reqOff = append(p.reqOff, r.IntN(srcSlack))
		p.respOff = append(p.respOff, r.IntN(srcSlack))
	}
	return p
}

func (p *leasePlan) request(i int) []byte { return p.src[p.reqOff[i] : p.reqOff[i]+p.sizes[i]] }
func (p *leasePlan) response(i int) []byte {
	return p.src[p.respOff[i] : p.respOff[i]+p.sizes[(i+1)%p.count]]
}

// fillLease allocates a lease on s and writes want into it in place.
func fillLease(s *session.Session, want []byte) (*session.Lease, error) {
	l, err := s.Alloc(len(want))
	if err != nil {
		return nil, err
	}
	copy(l.Bytes(), want)
	return l, nil
}

func leaseEchoChild() int {
	seed, _ := strconv.ParseUint(xproc.Arg("SEED"), 10, 64)
	count, _ := strconv.Atoi(xproc.Arg("COUNT"))
	max, _ := strconv.Atoi(xproc.Arg("MAX"))
	plan := newLeasePlan(seed, count, max)
	tr, err := OpenInherited(3, shm.Config{Wait: 60 * time.Second}, Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lease child:", err)
		return 1
	}
	var sess atomic.Pointer[session.Session]
	ready := make(chan struct{}) // closed once sess is set
	next := 0
	mux := session.NewMux()
	_, _ = mux.HandleUnary(leaseService, "Echo", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		i := next
		next++ // calls come one at a time
		if i >= count || !bytes.Equal(req, plan.request(i)) {
			return nil, plexus.Errorf(plexus.DataLoss, "request %d: %d bytes differ from what was sent", i, len(req))
		}
		<-ready
		return fillLease(sess.Load(), plan.response(i))
	})
	_, _ = mux.HandleUnary(leaseService, "Report", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		own, peer := tr.Pools()
		if own.FreeSlots() != own.NumSlots() || peer.FreeSlots() != peer.NumSlots() {
			return nil, plexus.Errorf(plexus.Internal, "plugin: %d/%d own and %d/%d host slots free",
				own.FreeSlots(), own.NumSlots(), peer.FreeSlots(), peer.NumSlots())
		}
		if err := errors.Join(own.CheckFreeLists(), peer.CheckFreeLists()); err != nil {
			return nil, plexus.Errorf(plexus.Internal, "plugin: %v", err)
		}
		return plexus.Raw("ok"), nil
	})
	s := session.New(tr, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	sess.Store(s)
	close(ready)
	<-s.Done()
	// The segment is unmapped when its last reference goes (see
	// linkState), which can come just after Done: a reader goroutine may
	// still be inside TryRecv. What must not happen is that it never goes.
	u, err := readUsage()
	for deadline := time.Now().Add(5 * time.Second); err == nil && u != (usage{}) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		u, err = readUsage()
	}
	if err != nil || u != (usage{}) {
		fmt.Fprintf(os.Stderr, "lease child: after the session: memfd usage %+v (%v), want none\n", u, err)
		return 1
	}
	return 0
}

// TestCrossProcessLeases: 1,000 calls whose request is a lease of up to
// 64 MiB filled in place by the host and whose response is a lease filled
// by the plugin, checked byte for byte on both sides; afterwards every slot
// of both pools is free, and once the session ends neither process has a
// memfd or mapping left.
func TestCrossProcessLeases(t *testing.T) {
	count, max := 1000, maxSource
	if raceEnabled {
		count, max = 200, 16<<20
	}
	if testing.Short() {
		count, max = 200, 8<<20
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d leases each way up to %d bytes", seed, count, max)
	plan := newLeasePlan(seed, count, max)

	before := memfdUsage(t)
	host, child := startChild(t, "shm-lease-echo", shm.Config{Wait: 60 * time.Second}, map[string]string{
		"SEED": strconv.FormatUint(seed, 10), "COUNT": strconv.Itoa(count), "MAX": strconv.Itoa(max)})
	s := session.New(host, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	echo := plexus.MethodID(leaseService, "Echo")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	start, total := time.Now(), 0
	for i := range count {
		req, err := fillLease(s, plan.request(i))
		require.NoError(t, err, "lease %d", i)
		var resp session.Lease
		require.NoError(t, s.Invoke(ctx, echo, req, &resp), "call %d (%d bytes)", i, plan.sizes[i])
		if !bytes.Equal(resp.Bytes(), plan.response(i)) {
			t.Fatalf("response %d: %d bytes differ from what the plugin sent", i, resp.Len())
		}
		total += len(plan.request(i)) + resp.Len()
		resp.Release()
	}
	t.Logf("%d calls, %d MiB in all, in %v", count, total>>20, time.Since(start).Round(time.Millisecond))

	var report plexus.Raw
	require.NoError(t, s.Invoke(ctx, plexus.MethodID(leaseService, "Report"), plexus.Raw{}, &report))
	require.Equal(t, "ok", string(report))
	own, peer := host.Pools()
	require.Equal(t, own.NumSlots(), own.FreeSlots(), "host pool")
	require.Equal(t, peer.NumSlots(), peer.FreeSlots(), "plugin pool")
	require.NoError(t, own.CheckFreeLists())
	require.NoError(t, peer.CheckFreeLists())

	require.NoError(t, s.Close())
	require.NoError(t, child.Wait(30*time.Second), "the child checks its own memfds after the session")
	require.Equal(t, before, memfdUsage(t), "memfds or mappings left in the host")
}

// leaseHoldChild serves Hold, whose handler keeps its request lease (a
// view into the host's pool) until Free is called.
func leaseHoldChild() int {
	tr, err := OpenInherited(3, shm.Config{}, Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "hold child:", err)
		return 1
	}
	var mu sync.Mutex
	free := make(chan struct{})
	mux := session.NewMux()
	_, _ = mux.HandleUnary(leaseService, "Hold", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		mu.Lock()
		f := free
		mu.Unlock()
		select {
		case <-f:
		case <-ctx.Done():
		}
		return plexus.Raw(strconv.Itoa(len(req))), nil
	})
	_, _ = mux.HandleUnary(leaseService, "Free", func(ctx context.Context, req []byte) (plexus.Marshaler, error) {
		mu.Lock()
		close(free)
		free = make(chan struct{})
		mu.Unlock()
		return plexus.Raw{}, nil
	})
	s := session.New(tr, session.Config{Role: session.Acceptor, Mux: mux, KeepaliveIdle: -1})
	<-s.Done()
	return 0
}

// largestClass is the slot count of the default pool's largest class.
func largestClass() int {
	c := shm.DefaultClasses()
	return int(c[len(c)-1].Count)
}

// holdAll fills the host's largest slot class with leases that the
// plugin's handlers hold, and starts one more Alloc, which must block.
func holdAll(t *testing.T, s *session.Session, slots int) (calls chan error, blocked chan error) {
	const size = 600 << 10 // in the 1 MiB class
	hold := plexus.MethodID(leaseService, "Hold")
	calls = make(chan error, slots+1)
	for range slots {
		l, err := s.Alloc(size)
		require.NoError(t, err)
		go func() { calls <- s.Invoke(context.Background(), hold, l, nil) }()
	}
	blocked = make(chan error, 1)
	go func() {
		l, err := s.Alloc(size)
		if err == nil {
			err = s.Invoke(context.Background(), hold, l, nil)
		}
		blocked <- err
	}()
	select {
	case err := <-blocked:
		t.Fatalf("Alloc with every slot held returned %v instead of waiting", err)
	case <-time.After(300 * time.Millisecond):
	}
	return calls, blocked
}

// TestCrossProcessLeaseBackpressure: the plugin's handlers hold every
// slot of the host's 1 MiB class; the host's next Alloc waits until the
// plugin releases them, then proceeds.
func TestCrossProcessLeaseBackpressure(t *testing.T) {
	host, _ := startChild(t, "shm-lease-hold", shm.Config{Wait: 20 * time.Second}, nil)
	s := session.New(host, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	defer s.Close()
	slots := largestClass()
	calls, blocked := holdAll(t, s, slots)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Invoke(ctx, plexus.MethodID(leaseService, "Free"), plexus.Raw{}, nil))
	for range slots {
		require.NoError(t, <-calls)
	}
	select {
	case err := <-blocked:
		// Its own Hold call waits for the next Free.
		t.Fatalf("the blocked call ended before its Free: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, s.Invoke(ctx, plexus.MethodID(leaseService, "Free"), plexus.Raw{}, nil))
	require.NoError(t, <-blocked, "the Alloc that waited proceeds once slots are released")
}

// TestCrossProcessLeasePeerDeath: with every slot held by a plugin that is
// then killed, the host's waiting Alloc and every held call fail with
// PEER_DIED at once.
func TestCrossProcessLeasePeerDeath(t *testing.T) {
	host, child := startChild(t, "shm-lease-hold", shm.Config{Wait: 30 * time.Second}, nil)
	s := session.New(host, session.Config{Role: session.Initiator, KeepaliveIdle: -1})
	defer s.Close()
	slots := largestClass()
	calls, blocked := holdAll(t, s, slots)

	killed := time.Now()
	require.NoError(t, child.Kill())
	select {
	case err := <-blocked:
		require.ErrorIs(t, err, plexus.ErrPeerDied)
	case <-time.After(5 * time.Second):
		t.Fatal("the Alloc waiting for a slot did not see the peer die")
	}
	t.Logf("waiting Alloc failed %v after the kill", time.Since(killed).Round(time.Microsecond))
	require.Less(t, time.Since(killed), 2*time.Second, "far sooner than the 30 s wait bound")
	for range slots {
		require.ErrorIs(t, <-calls, plexus.ErrPeerDied)
	}
}
