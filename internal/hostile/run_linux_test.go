package hostile

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Running role processes from a test, and selecting attacks.

// selectAttacks keeps the names that the second level of -run selects
// (all of them without one), so that no process is started for attacks
// the run skips.
func selectAttacks(names []string) []string {
	f := flag.Lookup("test.run")
	if f == nil {
		return names
	}
	parts := strings.Split(f.Value.String(), "/")
	if len(parts) < 2 || parts[1] == "" {
		return names
	}
	re, err := regexp.Compile(parts[1])
	if err != nil {
		return names
	}
	var out []string
	for _, n := range names {
		if re.MatchString(n) {
			out = append(out, n)
		}
	}
	return out
}

// roleRun is what the role processes of one test reported.
type roleRun struct {
	reports map[string]json.RawMessage // by attack
	failed  map[string]string          // attack -> why it has no report
}

// runRole runs role processes over names until each attack has a report
// or a failure: a process that crashes or hangs (no report within
// bound(name) after it began the attack; it is then killed with its
// process group) fails that attack, and a new process takes the rest.
func runRole(t *testing.T, role string, names []string, bound func(string) time.Duration) roleRun {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := roleRun{reports: map[string]json.RawMessage{}, failed: map[string]string{}}
	for remaining := names; len(remaining) > 0; {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envRole+"="+role, envAttacks+"="+strings.Join(remaining, ","),
			// Under -race a process sleeps a second at exit by default;
			// every plugin of every attack would.
			"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
		stderr := &tailBuffer{max: 48 << 10}
		cmd.Stderr = stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		current, began, hung := "", time.Now(), time.Duration(0)
		timer := time.NewTimer(90 * time.Second) // start-up, and between attacks
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				switch {
				case strings.HasPrefix(l, "BEGIN "):
					current, began = strings.TrimPrefix(l, "BEGIN "), time.Now()
					timer.Reset(bound(current))
				case strings.HasPrefix(l, "REPORT "):
					raw := json.RawMessage(strings.TrimPrefix(l, "REPORT "))
					var head struct{ Attack string }
					if json.Unmarshal(raw, &head) == nil {
						run.reports[head.Attack] = raw
					}
					current = ""
					timer.Reset(90 * time.Second)
				}
			case <-timer.C:
				hung = time.Since(began)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				for range lines {
				}
				break read
			}
		}
		timer.Stop()
		werr := cmd.Wait()
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever it left in its group
		var next []string
		for _, n := range remaining {
			if _, ok := run.reports[n]; !ok && n != current {
				next = append(next, n)
			}
		}
		switch {
		case current != "" && hung > 0:
			run.failed[current] = fmt.Sprintf("the %s process hung in this attack: killed after %v\n--- its stderr (tail) ---\n%s", role, hung.Round(time.Millisecond), stderr)
		case current != "":
			run.failed[current] = fmt.Sprintf("the %s process died in this attack (%v)\n--- its stderr (tail) ---\n%s", role, werr, stderr)
		case len(next) == len(remaining):
			for _, n := range next {
				run.failed[n] = fmt.Sprintf("the %s process ended before this attack (%v)\n--- its stderr (tail) ---\n%s", role, werr, stderr)
			}
			next = nil
		}
		remaining = next
	}
	return run
}

// tailBuffer keeps the first head and the last max bytes written to it:
// a crash's first lines ("fatal error: ...") and the end of its trace.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	head, b []byte
	dropped int
}

const headKeep = 8 << 10

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if room := headKeep - len(w.head); room > 0 {
		k := min(room, len(p))
		w.head = append(w.head, p[:k]...)
		p = p[k:]
	}
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.dropped += len(w.b) - w.max
		w.b = append([]byte(nil), w.b[len(w.b)-w.max:]...)
	}
	return n, nil
}

func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped == 0 {
		return string(w.head) + string(w.b)
	}
	return fmt.Sprintf("%s\n[... %d bytes ...]\n%s", w.head, w.dropped, w.b)
}

// runAttacks runs the selected attacks of defs, in their order, in role
// processes and checks each one's report, decoded into an R, as a subtest
// of its own.
func runAttacks[A any, R any](t *testing.T, role string, defs []A, name func(A) string,
	bound func(A) time.Duration, check func(*testing.T, A, *R)) {
	t.Helper()
	var names []string
	byName := map[string]A{}
	for _, a := range defs {
		names = append(names, name(a))
		byName[name(a)] = a
	}
	names = selectAttacks(names)
	if len(names) == 0 {
		t.Skip("no attack selected")
	}
	t0 := time.Now()
	run := runRole(t, role, names, func(name string) time.Duration { return bound(byName[name]) })
	t.Logf("%d attacks in %v", len(names), time.Since(t0).Round(time.Millisecond))
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if why, ok := run.failed[name]; ok {
				t.Fatal(why)
			}
			var r R
			if err := json.Unmarshal(run.reports[name], &r); err != nil {
				t.Fatalf("report: %v", err)
			}
			check(t, byName[name], &r)
			if t.Failed() || testing.Verbose() {
				t.Logf("report: %s", indent(run.reports[name]))
			}
		})
	}
}
