package natsbridge

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// startHostProcess starts the test binary as host process name, bridged
// to the NATS server at url, and waits for its plugin to be subscribed.
func startHostProcess(t *testing.T, url, name string, acks <-chan *nats.Msg) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), modeEnv+"=host", nameEnv+"="+name, natsEnv+"="+url, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	select {
	case m := <-acks:
		require.Equal(t, "ack.ready."+name+".x", m.Subject)
	case <-time.After(30 * time.Second):
		t.Fatalf("host process %s: its plugin did not report ready", name)
	}
}

// TestBridgeAcrossHostProcesses: two host processes, each with a plugin,
// joined through a NATS server in the test process. A plugin of host a
// publishes events and jobs through its host's bus: every event reaches
// the plugins of both hosts once each, and the jobs are spread over the
// plugins of both hosts, each job taken once.
func TestBridgeAcrossHostProcesses(t *testing.T) {
	ns := startNATS(t, 0)
	nc := connect(t, ns.ClientURL())
	acks := make(chan *nats.Msg, 1<<16)
	sub, err := nc.ChanSubscribe("ack.>", acks)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, nc.Flush())

	startHostProcess(t, ns.ClientURL(), "a", acks)
	startHostProcess(t, ns.ClientURL(), "b", acks)

	const n = 500
	require.NoError(t, nc.Publish(fmt.Sprintf("cmd.publish.a.%d", n), nil))
	docs := map[string]int{}
	jobs := map[string]int{}
	perHost := map[string]int{}
	deadline := time.After(60 * time.Second)
	for len(docs) < 2*n || len(jobs) < n {
		select {
		case m := <-acks:
			// ack.<kind>.<plugin>.<subject>
			parts := strings.SplitN(m.Subject, ".", 4)
			require.Len(t, parts, 4, m.Subject)
			switch parts[1] {
			case "doc":
				docs[parts[2]+" "+parts[3]]++
			case "job":
				jobs[parts[3]]++
				perHost[parts[2]]++
			}
		case <-deadline:
			t.Fatalf("after 60 s: %d of %d event receipts, %d of %d jobs", len(docs), 2*n, len(jobs), n)
		}
	}
	for i := range n {
		for _, p := range []string{"a", "b"} {
			require.Equal(t, 1, docs[fmt.Sprintf("%s doc.a.%d", p, i)], "event %d at plugin %s", i, p)
		}
		require.Equal(t, 1, jobs[fmt.Sprintf("net.jobs.a.%d", i)], "job %d", i)
	}
	require.Positive(t, perHost["a"], "host a's plugin took jobs")
	require.Positive(t, perHost["b"], "host b's plugin took jobs")
	t.Logf("jobs per host: %v", perHost)
	// Nothing more: no event or job crossed twice.
	select {
	case m := <-acks:
		t.Fatalf("unexpected %s", m.Subject)
	case <-time.After(300 * time.Millisecond):
	}
}
