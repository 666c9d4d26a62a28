package hostile

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/internal/handshake"
	"github.com/plexus-ipc/plexus/internal/sockconn"
	"github.com/plexus-ipc/plexus/plugin"
	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
	"github.com/plexus-ipc/plexus/wire"
)

// The hostile host: a process that builds a link by hand, starts a real
// plugin (the victim, plugin.Serve) on it, and attacks it with the same
// attacks a hostile plugin uses on its host.

// hostAttackDef is one attack of a hostile host on its plugin.
type hostAttackDef struct {
	Name   string
	Attack func(p *peer) error
	// Exit lists the plugin's acceptable exit codes: plugin.ExitFailed when
	// it must see the violation (or bound) and leave, plugin.ExitOK when it
	// may survive the attack (it is then probed with a call and closed
	// gracefully).
	Exit      []int
	StderrAny []string // with ExitFailed: its stderr names one of these
	CPU       bool     // measure the plugin's CPU for a second once armed
	Check     func(r *victimReport) []string
}

var (
	mustFail  = []int{plugin.ExitFailed}
	mayRemain = []int{plugin.ExitOK, plugin.ExitFailed}
	mustLive  = []int{plugin.ExitOK}
)

func hostAttacks() []*hostAttackDef {
	return []*hostAttackDef{
		{Name: "P1_ArgCountFlip", Attack: argCountFlip, Exit: mayRemain, StderrAny: []string{"PROTOCOL_VIOLATION"},
			Check: func(r *victimReport) []string {
				return checkP1(&hostReport{Plugin: r.Results, Ended: r.Exit != plugin.ExitOK})
			}},
		{Name: "P2_PackedRecordRewrite", Attack: packedRewrite, Exit: mustFail, StderrAny: []string{"packed"}},
		{Name: "P3_DoorbellSaturated", Attack: then(saturateDoorbells(false), nil), Exit: mustFail, StderrAny: []string{"doorbell"}},
		{Name: "P3_DoorbellSaturatedBlocking", Attack: then(saturateDoorbells(true), nil), Exit: mustFail, StderrAny: []string{"doorbell"}},
		{Name: "P4_NotifyFloodBeyondCredit", Attack: notifyFlood(false), Exit: mustFail, StderrAny: []string{"window", "credit"},
			Check: victimMemory(memoryBoundKB)},
		{Name: "P5_SparseBlob", Attack: sparseBlob, Exit: mustFail, StderrAny: holesMsg, Check: victimShmem},
		{Name: "P6_HeadPastTail", Attack: headPastTail, Exit: mayRemain, StderrAny: []string{"PROTOCOL_VIOLATION"}, CPU: true,
			Check: victimCPU},
		{Name: "P7_ChannelFlood", Attack: channelFlood(false), Exit: mayRemain, StderrAny: []string{"PROTOCOL_VIOLATION"},
			Check: victimChannels},
		{Name: "P10_BlobFlood", Attack: blobFlood, Exit: mustFail, StderrAny: []string{"not claimed"}, Check: victimFds},
		{Name: "Ring_GarbageDescriptors", Attack: ringGarbage, Exit: mustFail, StderrAny: []string{"PROTOCOL_VIOLATION"}},
		{Name: "Ring_TailBeyondCapacity", Attack: tailBeyondCapacity, Exit: mustLive,
			Check: func(r *victimReport) []string { return okCalls("tail")(&hostReport{Plugin: r.Results}) }},
		{Name: "Pool_PluginFreeListScribbled", Attack: then(peerFreeList, echoCalls(3, 1024)), Exit: mustFail,
			StderrAny: []string{"PROTOCOL_VIOLATION"}},
		{Name: "Header_Scribbled", Attack: headerScribbled, Exit: mustLive,
			Check: func(r *victimReport) []string { return okCalls("header")(&hostReport{Plugin: r.Results}) }},
		{Name: "Ctl_Garbage", Attack: ctlGarbage, Exit: mustFail, StderrAny: []string{"PROTOCOL_VIOLATION"}},
		{Name: "Ctl_BlobPipe", Attack: blobOfKind("pipe"), Exit: mustFail, StderrAny: []string{"PROTOCOL_VIOLATION"}},
		{Name: "Proto_WrongParityOpen", Attack: wrongParityOpen, Exit: mustFail, StderrAny: []string{"PROTOCOL_VIOLATION"}},
		// The host dies in the middle of a flood: the plugin must notice
		// at once and leave.
		{Name: "HostDies_MidFlood", Attack: hostDies, Exit: mustFail, StderrAny: []string{"PEER_DIED"}},
	}
}

func hostAttack(name string) *hostAttackDef {
	for _, a := range hostAttacks() {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// then runs attack, then more (nil: waits a moment for the victim).
func then(attack, more func(p *peer) error) func(p *peer) error {
	return func(p *peer) error {
		if err := attack(p); err != nil {
			return err
		}
		if more == nil {
			time.Sleep(100 * time.Millisecond)
			return nil
		}
		return more(p)
	}
}

// echoCalls makes n echo calls of size bytes (answers above 28 bytes need
// a slot of the other side).
func echoCalls(n, size int) func(p *peer) error {
	return func(p *peer) error {
		for range n {
			if _, err := p.call(echoID, make([]byte, size), time.Second); err != nil {
				return nil // the link ended: what the attack wanted
			}
		}
		return nil
	}
}

// hostDies: holds streams and floods notifications, then closes every
// descriptor of the link at once, as the kernel does for a killed host.
func hostDies(p *peer) error {
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		_ = notifyFlood(true)(p)
	}()
	for range 100 {
		if !p.spend(wire.DescSize, time.Second) {
			break
		}
		if _, _, _, err := p.open(holdID, 0, nil, false); err != nil {
			break
		}
	}
	time.Sleep(100 * time.Millisecond)
	// A killed host sends nothing more: the flood stops (at its next
	// frame) before the segment is unmapped under it, as the kernel
	// stops a killed process's threads before it unmaps their memory.
	p.die("closed")
	select {
	case <-flooded:
	case <-time.After(10 * time.Second):
	}
	p.close()
	return nil
}

// victimReport is what the hostile host saw of one attack.
type victimReport struct {
	Attack    string                     `json:"attack"`
	Err       string                     `json:"err,omitempty"`
	WarmupErr string                     `json:"warmupErr,omitempty"`
	AttackErr string                     `json:"attackErr,omitempty"`
	Exit      int                        `json:"exit"` // -1: killed by a signal
	Signal    string                     `json:"signal,omitempty"`
	Hung      bool                       `json:"hung,omitempty"` // it did not exit within the bound (then killed)
	ExitMs    float64                    `json:"exitMs"`         // after the attack
	ProbeErr  string                     `json:"probeErr,omitempty"`
	Base      peaks                      `json:"base"` // the plugin's resources after the warm-up
	Peak      peaks                      `json:"peak"`
	ShmemKB   int64                      `json:"shmemAtAttackKB"`
	CPUBase   float64                    `json:"cpuBase,omitempty"`
	CPU       float64                    `json:"cpu,omitempty"`
	Results   map[string]json.RawMessage `json:"observed"` // the attacker's observations
	Stderr    string                     `json:"stderr"`
}

func hostileHostMain() int {
	for _, name := range strings.Split(os.Getenv(envAttacks), ",") {
		a := hostAttack(name)
		if a == nil {
			fmt.Fprintf(os.Stderr, "hostile host: no attack %q\n", name)
			return 1
		}
		fmt.Printf("BEGIN %s\n", name)
		r := runHostAttack(a)
		fmt.Printf("REPORT %s\n", jsonLine(r))
	}
	return 0
}

// victim is a started victim plugin.
type victim struct {
	cmd    *exec.Cmd
	pid    string
	stderr *tailBuffer
	exited chan struct{}
	err    error
}

func runHostAttack(a *hostAttackDef) *victimReport {
	r := &victimReport{Attack: a.Name}
	p, v, err := startVictim()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer func() {
		_ = v.cmd.Process.Kill()
		<-v.exited
		r.Stderr = v.stderr.String()
	}()
	p.start()
	for i := range warmupCalls {
		text := fmt.Sprintf("warm-up call %d", i)
		if o, err := p.call(echoID, []byte(text), 2*time.Second); err != nil || o.code != plexus.OK {
			r.WarmupErr = fmt.Sprintf("%v %v %s", err, o.code, o.msg)
			p.close()
			return r
		}
	}
	if a.CPU {
		r.CPUBase = cpuOfPid(v.pid, time.Second)
	}
	smp := startSampler(v.pid, 10*time.Millisecond)
	time.Sleep(15 * time.Millisecond)
	r.Base = smp.now()
	r.ShmemKB = systemShmemKB()
	p.phase = func(name string) {
		if name == "armed" && a.CPU {
			r.CPU = cpuOfPid(v.pid, time.Second)
		}
	}
	if err := a.Attack(p); err != nil {
		r.AttackErr = err.Error()
	}
	t0 := time.Now()
	r.Results = p.rawResults()

	// Exit code 1 (the plugin saw the attack) is waited for; a plugin that
	// may survive gets a moment, then a call, then a graceful close.
	wait := 10 * time.Second
	if a.Exit[0] == plugin.ExitOK || len(a.Exit) > 1 {
		wait = 300 * time.Millisecond
	}
	select {
	case <-v.exited:
	case <-time.After(wait):
	}
	select {
	case <-v.exited:
	default:
		if a.Exit[0] == plugin.ExitOK || len(a.Exit) > 1 {
			if o, err := p.call(echoID, []byte("after the attack"), time.Second); err != nil || o.code != plexus.OK {
				r.ProbeErr = fmt.Sprintf("%v %v %s", err, o.code, o.msg)
			}
			_, _ = p.call(shutdownID, nil, time.Second)
			p.close()
		}
	}
	select {
	case <-v.exited:
	case <-time.After(10 * time.Second):
		r.Hung = true
		_ = v.cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, on its stderr
		select {
		case <-v.exited:
		case <-time.After(2 * time.Second):
			_ = v.cmd.Process.Kill()
			<-v.exited
		}
	}
	r.ExitMs = ms(time.Since(t0))
	r.Peak = smp.finish()
	r.Exit = v.cmd.ProcessState.ExitCode()
	if ws, ok := v.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.Signal = ws.Signal().String()
	}
	select {
	case <-p.quit:
	default:
		p.close()
	}
	return r
}

// startVictim builds a link (a segment with default geometry, a control
// socketpair), starts the victim plugin on it the way a host does, runs
// the host's side of the handshake, and returns the hostile peer.
func startVictim() (*peer, *victim, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	seg, err := shm.Create(shm.Config{Wait: 2 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	files, err := seg.Files()
	if err != nil {
		return nil, nil, err
	}
	mine, err := seg.Files() // our raw copies
	if err != nil {
		return nil, nil, err
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	files = append(files, os.NewFile(uintptr(pair[1]), "plugin-ctl"))
	env := handshake.Env{FirstFD: 3, LastFD: 3 + shmlink.FileCount - 1, MinProtocol: handshake.MinProtocol,
		MaxProtocol: handshake.MaxProtocol, Versions: []uint32{1}, HostPID: os.Getpid()}
	cmd := exec.Command(exe, "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, handshake.EnvName+"=") && !strings.HasPrefix(kv, envRole+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, envRole+"=victim-plugin", handshake.EnvName+"="+env.String())
	cmd.ExtraFiles = files
	v := &victim{cmd: cmd, stderr: &tailBuffer{max: 48 << 10}, exited: make(chan struct{})}
	cmd.Stderr = v.stderr
	cmd.Stdout = v.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return nil, nil, err
	}
	v.pid = strconv.Itoa(cmd.Process.Pid)
	go func() {
		v.err = cmd.Wait()
		close(v.exited)
	}()
	fail := func(err error) (*peer, *victim, error) {
		_ = cmd.Process.Kill()
		<-v.exited
		return nil, nil, fmt.Errorf("%w (plugin: %s)", err, v.stderr)
	}
	ctlFd, err := unix.FcntlInt(uintptr(pair[0]), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	conn, err := sockconn.FromFD(pair[0], "host-ctl")
	if err != nil {
		return fail(err)
	}
	hello := &handshake.Hello{MinProtocol: handshake.MinProtocol, MaxProtocol: handshake.MaxProtocol, Cookie: cookie,
		Versions: []uint32{1}, Limits: handshake.Limits{MaxPayload: shmlink.DefaultMaxPayload, ChannelWindow: chanWindow, LinkWindow: linkWindow}}
	if _, err := handshake.Host(handshake.Datagrams(conn), time.Now().Add(20*time.Second), hello, nil); err != nil {
		return fail(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(mine[0].Fd()), &st); err != nil {
		return fail(err)
	}
	mem, err := unix.Mmap(int(mine[0].Fd()), 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(err)
	}
	var bells [2][2]int
	for i, f := range mine[1:] {
		if bells[i/2][i%2], err = unix.Dup(int(f.Fd())); err != nil {
			return fail(err)
		}
	}
	for _, f := range mine {
		f.Close()
	}
	p, err := newPeer(shm.Host, seg, mem, bells, ctlFd, conn)
	if err != nil {
		return fail(err)
	}
	return p, v, nil
}

// cpuOfPid is pid's CPU use over d, in cores.
func cpuOfPid(pid string, d time.Duration) float64 {
	c0, t0 := cpuOf(pid), time.Now()
	time.Sleep(d)
	return float64(cpuOf(pid)-c0) / float64(time.Since(t0))
}

// now samples at once and returns that sample alone.
func (s *sampler) now() peaks {
	var one sampler
	one.pid = s.pid
	one.sample()
	return one.p
}

func victimMemory(boundKB int64) func(r *victimReport) []string {
	return func(r *victimReport) []string {
		return grewBy("plugin's RSS", r.Base.RssKB, r.Peak.RssKB, boundKB)
	}
}

func victimShmem(r *victimReport) []string {
	return checkShmem(256 << 10)(&hostReport{Plugin: r.Results, Ended: r.Exit != plugin.ExitOK,
		ShmemKB: r.ShmemKB, Peak: peaks{ShmemKB: r.Peak.ShmemKB}})
}

func victimCPU(r *victimReport) []string {
	if r.Exit == plugin.ExitOK && r.CPU-r.CPUBase >= cpuBound {
		return []string{fmt.Sprintf("the plugin used %.0f%% of a core on the idle link (%.0f%% before)", 100*r.CPU, 100*r.CPUBase)}
	}
	return nil
}

func victimChannels(r *victimReport) []string {
	bound := int64(channelMemBoundK)
	if raceEnabled {
		bound *= 4
	}
	out := victimMemory(bound)(r)
	if r.Exit == plugin.ExitOK {
		out = append(out, checkP7(&hostReport{Plugin: r.Results})...)
	}
	return out
}

func victimFds(r *victimReport) []string {
	if extra := r.Peak.Fds - r.Base.Fds; extra > pendingBlobs+8 {
		return []string{fmt.Sprintf("the plugin held %d more descriptors during the attack (bound %d)", extra, pendingBlobs+8)}
	}
	return nil
}
