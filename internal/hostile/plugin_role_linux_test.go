package hostile

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/shm"
)

// Lines the hostile plugin prints on stdout; the host forwards them into
// its log, where the host role picks them up.
const (
	phaseLine  = "HOSTILE-PHASE "  // + armed | done
	resultLine = "HOSTILE-RESULT " // + {"key": value}
)

// hostilePluginMain is the "hostile-plugin" role: a plugin that behaves
// for warmupCalls echo calls, then runs its attack.
func hostilePluginMain() int {
	name := os.Getenv(envAttack)
	a := pluginAttack(name)
	if a == nil && name != "none" {
		fmt.Fprintf(os.Stderr, "hostile plugin: no attack %q\n", name)
		return 97
	}
	p, err := openPluginPeer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "hostile plugin: %v\n", err)
		return 1
	}
	p.emit = func(key string, v any) { fmt.Printf("%s%s\n", resultLine, jsonLine(map[string]any{key: v})) }
	p.phase = func(s string) { fmt.Printf("%s%s\n", phaseLine, s) }
	// SIGUSR1 from the host: stop pausing (see attacks that stop reading).
	resume := make(chan os.Signal, 1)
	signal.Notify(resume, syscall.SIGUSR1)
	go func() {
		for range resume {
			p.paused.Store(false)
		}
	}()
	p.start()
	for deadline := time.Now().Add(10 * time.Second); p.served.Load() < warmupCalls; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) || p.isDead() {
			fmt.Fprintf(os.Stderr, "hostile plugin: the host made %d calls, not %d\n", p.served.Load(), warmupCalls)
			return 1
		}
	}
	// The host has our third answer; let it take it before the attack
	// (an attack through the control socket could overtake it).
	time.Sleep(100 * time.Millisecond)
	if a != nil {
		p.logf("attack %s", name)
		if err := a.Plugin(p); err != nil {
			p.logf("attack %s: %v", name, err)
			p.result("attackError", err.Error())
		}
	}
	p.result("peer", p.stats())
	p.phase("done")
	// Leave when the host closes the link (or kills us); bounded.
	select {
	case <-p.dead:
	case <-time.After(60 * time.Second):
	}
	return 0
}

// openPluginPeer opens the inherited link the way a plugin does, keeping
// raw copies of every descriptor first.
func openPluginPeer() (*peer, error) {
	env, err := handshake.ParseEnv(os.Getenv(handshake.EnvName))
	if err != nil {
		return nil, err
	}
	if env.LastFD-env.FirstFD+1 != 6 {
		return nil, fmt.Errorf("%d link descriptors, want 6", env.LastFD-env.FirstFD+1)
	}
	first := env.FirstFD
	var raw [6]int
	for i := range raw {
		if raw[i], err = unix.FcntlInt(uintptr(first+i), unix.F_DUPFD_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("dup: %w", err)
		}
	}
	conn, err := sockconn.FromFD(first+5, "ctl")
	if err != nil {
		return nil, err
	}
	_, _, err = handshake.Plugin(handshake.Datagrams(conn), time.Now().Add(10*time.Second), func(h *handshake.Hello) (*handshake.Reply, error) {
		proto, err := handshake.NegotiateProtocol(h.MinProtocol, h.MaxProtocol, handshake.MinProtocol, handshake.MaxProtocol)
		if err != nil {
			return nil, err
		}
		v, err := handshake.NegotiateVersion(h.Versions, []uint32{1})
		if err != nil {
			return nil, err
		}
		return &handshake.Reply{Protocol: proto, Version: v, Limits: h.Limits, Services: []handshake.Service{
			{Name: targetService, Methods: []handshake.Method{{Name: "Echo", ID: echoID, Signature: targetSig}}},
		}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	seg, err := shm.Open(shm.FdsFrom(first), shm.Config{Wait: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(raw[0], &st); err != nil {
		return nil, err
	}
	mem, err := unix.Mmap(raw[0], 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	bells := [2][2]int{{raw[1], raw[2]}, {raw[3], raw[4]}}
	return newPeer(shm.Plugin, seg, mem, bells, raw[5], conn)
}
