package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/host"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/shm"
)

// hostReport is what the host role saw of one attack; the test asserts on
// it. Codes are plexus.Code names.
type hostReport struct {
	Attack  string `json:"attack"`
	Err     string `json:"err,omitempty"`     // the harness could not run the attack
	Tainted bool   `json:"tainted,omitempty"` // something hung: the host role stops after this report

	WarmupErr string `json:"warmupErr,omitempty"`
	Armed     bool   `json:"armed"`

	Ended   bool    `json:"ended"` // the hostile link ended before the host closed it
	EndCode string  `json:"endCode,omitempty"`
	EndMsg  string  `json:"endMsg,omitempty"`
	EndMs   float64 `json:"endMs,omitempty"` // after the attack started (warm-up done)

	PostCode  string `json:"postCode"` // a call after the attack
	PostErr   string `json:"postErr,omitempty"`
	PostIsEnd bool   `json:"postIsEnd"` // it failed with the link's final status

	Calls   []callRecord `json:"calls,omitempty"`
	CPUBase float64      `json:"cpuBase,omitempty"` // cores, before the hostile plugin started
	CPU     float64      `json:"cpu,omitempty"`     // cores, while armed

	CloseMs   float64 `json:"closeMs"`
	CloseHung bool    `json:"closeHung,omitempty"`

	Honest honestStats `json:"honest"`

	Base      resources `json:"base"`
	After     resources `json:"after"`
	Leftovers []string  `json:"leftovers,omitempty"` // after settling, what is above the baseline
	Peak      peaks     `json:"peak"`
	ShmemKB   int64     `json:"shmemAtAttackKB"` // system Shmem once the link was up

	Phases map[string]float64 `json:"phasesMs"` // where the time went

	ViolationLogged bool                       `json:"violationLogged"`
	Plugin          map[string]json.RawMessage `json:"plugin,omitempty"`
	Log             []string                   `json:"log,omitempty"`
}

type callRecord struct {
	Code string  `json:"code"`
	Ms   float64 `json:"ms"`
	Hung bool    `json:"hung,omitempty"`
	Msg  string  `json:"msg,omitempty"`
}

type honestStats struct {
	Calls    int     `json:"calls"`
	Failures int     `json:"failures"`
	WorstMs  float64 `json:"worstMs"`
	FirstErr string  `json:"firstErr,omitempty"`
}

// hostRole is the "host" role's state.
type hostRole struct {
	exe    string
	mux    *session.Mux
	log    hclog.Logger
	lc     *logCapture
	caller *honestCaller
}

func hostMain() int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	lc := newLogCapture(os.Getenv(envLog) == "1")
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Output: lc, JSONFormat: true, Level: hclog.Trace})
	mux, err := hostServices()
	if err != nil {
		fmt.Fprintln(os.Stderr, "host:", err)
		return 1
	}
	honest, err := startClient(host.Config{Path: exe, Env: []string{envRole + "=victim-plugin"}, Name: "honest",
		Cookie: cookie, Versions: pluginExpects(), Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "host: honest plugin:", err)
		return 1
	}
	h := &hostRole{exe: exe, mux: mux, log: logger, lc: lc, caller: startHonest(honest)}
	// One cycle without an attack first, so that the baselines of the
	// attacks find the spawner, the thread pool and the caches warm.
	if r := h.run(&pluginAttackDef{Name: "none", End: endSurvive}); r.Err != "" || r.WarmupErr != "" {
		fmt.Fprintf(os.Stderr, "host: warm-up cycle failed: %s %s\n", r.Err, r.WarmupErr)
	}
	for _, name := range strings.Split(os.Getenv(envAttacks), ",") {
		a := pluginAttack(name)
		if a == nil {
			fmt.Fprintf(os.Stderr, "host: no attack %q\n", name)
			return 1
		}
		fmt.Printf("BEGIN %s\n", name)
		r := h.run(a)
		fmt.Printf("REPORT %s\n", jsonLine(r))
		if r.Tainted {
			fmt.Fprintf(os.Stderr, "host: %s left this process tainted; stopping\n", name)
			return 3
		}
	}
	h.caller.stop()
	_ = honest.Close()
	return 0
}

func (h *hostRole) config(a *pluginAttackDef) host.Config {
	return host.Config{
		Path: h.exe, Name: "hostile", Cookie: cookie,
		Env:      []string{envRole + "=hostile-plugin", envAttack + "=" + a.Name},
		Versions: pluginExpects(), Logger: h.log, HostServices: h.mux,
		GracePeriod: time.Second, StartTimeout: 20 * time.Second,
		Segment: shm.Config{Wait: a.Host.SegWait},
	}
}

// startClient creates and starts a plugin client, giving the start 20 s.
func startClient(cfg host.Config) (*host.Client, error) {
	c, err := host.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c, c.Start(ctx)
}

// run runs one attack: baseline, a fresh hostile plugin, warm-up calls,
// the host's part of the attack, the link's end, a call after it, Close,
// and the resources after settling.
func (h *hostRole) run(a *pluginAttackDef) *hostReport {
	r := &hostReport{Attack: a.Name, Phases: map[string]float64{}}
	lap := time.Now()
	phase := func(name string) {
		r.Phases[name] = ms(time.Since(lap))
		lap = time.Now()
	}
	h.baseline(a, r)
	phase("baseline")
	smp := startSampler("self", 10*time.Millisecond)
	defer func() {
		r.Log, r.Plugin, r.ViolationLogged = h.lc.snapshot()
		if len(r.Log) > 120 {
			r.Log = r.Log[len(r.Log)-120:]
		}
	}()

	c, err := startClient(h.config(a))
	if err != nil {
		r.Err = "start: " + err.Error()
		smp.finish()
		return r
	}
	sess := c.Session()
	phase("start")
	r.WarmupErr = warmup(c)
	r.ShmemKB = systemShmemKB()
	t0 := time.Now()
	ended := make(chan time.Time, 1)
	go func() { <-sess.Done(); ended <- time.Now() }()
	phase("warmup")

	h.attack(a, c, sess, r)
	awaitEnd(a, sess, h.lc.phase("done"))
	if err := sess.Err(); err != nil {
		r.Ended = true
		r.EndMs = ms((<-ended).Sub(t0))
		r.EndCode, r.EndMsg = statusOf(err)
	}
	phase("attack")
	probeAfter(c, sess, r)
	phase("probe")
	r.CloseMs, r.CloseHung = closeWithin(c, 15*time.Second)
	phase("close")
	r.Tainted = r.Tainted || r.CloseHung
	r.Peak = smp.finish()
	r.Honest = h.caller.snapshot()
	h.caller.pause()
	r.After, r.Leftovers = settle(r.Base, 5*time.Second)
	h.caller.resume()
	phase("settle")
	return r
}

// baseline measures the host before the hostile plugin starts (the honest
// caller paused, so that its calls in flight do not count) and clears the
// log and the honest caller's statistics.
func (h *hostRole) baseline(a *pluginAttackDef, r *hostReport) {
	h.caller.pause()
	r.Base = measureSelf()
	h.caller.resume()
	if a.Host.CPU {
		r.CPUBase = cpuOver(time.Second)
	}
	h.lc.reset()
	h.caller.reset()
}

// warmup makes the warm-up calls and returns the first failure, or "".
func warmup(c *host.Client) string {
	for i := range warmupCalls {
		if err := echoCall(c, fmt.Sprintf("warm-up call %d", i), 2*time.Second); err != nil {
			return err.Error()
		}
	}
	return ""
}

// attack is the host's part of the attack, for attacks that have one:
// once the plugin says it is armed, measure the CPU, make the calls, and
// let a stopped plugin resume.
func (h *hostRole) attack(a *pluginAttackDef, c *host.Client, sess *session.Session, r *hostReport) {
	if a.Host.Calls == nil && !a.Host.CPU {
		return
	}
	r.Armed = h.lc.waitPhase("armed", a.bound(), sess.Done())
	if r.Armed && a.Host.CPU {
		r.CPU = cpuOver(time.Second)
	}
	// Calls are made once armed, or once the link ended before (they
	// must then fail at once).
	if a.Host.Calls != nil && (r.Armed || sess.Err() != nil) {
		r.Calls = callBatch(c, a.Host.Calls)
		for _, cr := range r.Calls {
			r.Tainted = r.Tainted || cr.Hung
		}
	}
	if a.Host.Resume {
		if pid := c.Pid(); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGUSR1)
		}
	}
}

// awaitEnd waits for the link's end: a violation must end it within the
// bound; an attack the link may survive ends when the plugin says it is
// done (done), then a moment for a violation to follow.
func awaitEnd(a *pluginAttackDef, sess *session.Session, done <-chan struct{}) {
	bound := time.NewTimer(a.bound())
	select {
	case <-sess.Done():
	case <-done:
		if a.End != endViolation {
			break
		}
		select {
		case <-sess.Done():
		case <-bound.C:
		}
	case <-bound.C:
	}
	bound.Stop()
	if a.End != endViolation {
		select {
		case <-sess.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// statusOf splits a link's final error into a code name and a message.
func statusOf(err error) (code, msg string) {
	var st *plexus.Status
	if errors.As(err, &st) {
		return st.Code.String(), st.Message
	}
	return plexus.CodeOf(err).String(), err.Error()
}

// probeAfter makes one call after the attack: on a link that ended it
// must fail with the link's final status.
func probeAfter(c *host.Client, sess *session.Session, r *hostReport) {
	perr := echoCall(c, "after the attack", time.Second)
	r.PostCode = plexus.CodeOf(perr).String()
	if perr != nil {
		r.PostErr = perr.Error()
		var st *plexus.Status
		if r.Ended && errors.As(sess.Err(), &st) {
			r.PostIsEnd = errors.Is(perr, st)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func echoCall(c session.Conn, text string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var resp plexus.Raw
	if err := c.Invoke(ctx, echoID, plexus.Raw(text), &resp); err != nil {
		return err
	}
	if string(resp) != text {
		return fmt.Errorf("echo returned %q, want %q", resp, text)
	}
	return nil
}

// callBatch makes plan.N echo calls, plan.Concurrency at a time; a call
// that has not returned 10 s after its deadline counts as hung.
func callBatch(c *host.Client, plan *callPlan) []callRecord {
	recs := make([]callRecord, plan.N)
	sem := make(chan struct{}, plan.Concurrency)
	var wg sync.WaitGroup
	payload := make([]byte, plan.Size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	for i := range plan.N {
		sem <- struct{}{}
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			select {
			case <-done:
			case <-time.After(plan.Deadline + 10*time.Second):
				recs[i] = callRecord{Code: "HUNG", Hung: true, Ms: ms(plan.Deadline + 10*time.Second)}
			}
		}()
		go func() {
			t0 := time.Now()
			err := echoCall(c, string(payload), plan.Deadline)
			rec := callRecord{Code: plexus.CodeOf(err).String(), Ms: ms(time.Since(t0))}
			if err != nil {
				rec.Msg = err.Error()
			}
			select {
			case <-done:
			default:
				recs[i] = rec
				close(done)
			}
		}()
	}
	wg.Wait()
	return recs
}

// cpuOver is this process's CPU use over d, in cores.
func cpuOver(d time.Duration) float64 { return cpuOfPid("self", d) }

func closeWithin(c *host.Client, d time.Duration) (float64, bool) {
	t0 := time.Now()
	done := make(chan struct{})
	go func() { _ = c.Close(); close(done) }()
	select {
	case <-done:
		return ms(time.Since(t0)), false
	case <-time.After(d):
		return ms(d), true
	}
}
