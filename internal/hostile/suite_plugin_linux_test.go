package hostile

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus"
)

// TestHostilePlugin runs every attack of a hostile plugin on a host (the
// "host" role, a process of its own) and checks, per attack, that the host
// neither crashed nor hung, that its honest plugin's calls kept succeeding
// within their deadlines, that the hostile link ended as the attack
// requires, and that the host's resources came back to their baseline.
func TestHostilePlugin(t *testing.T) {
	runAttacks(t, "host", pluginAttacks(), func(a *pluginAttackDef) string { return a.Name },
		func(a *pluginAttackDef) time.Duration { return a.bound() + 60*time.Second },
		checkHostReport)
}

func indent(raw json.RawMessage) string {
	var v map[string]any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// checkHostReport asserts what every attack must show, then the attack's
// own checks.
func checkHostReport(t *testing.T, a *pluginAttackDef, r *hostReport) {
	t.Helper()
	if r.Err != "" {
		t.Fatalf("the attack could not run: %s", r.Err)
	}
	if r.WarmupErr != "" {
		t.Errorf("the hostile plugin's warm-up calls failed: %s", r.WarmupErr)
	}
	var aerr string
	if r.result("attackError", &aerr) == nil && !r.Ended {
		t.Errorf("the attack did not run as meant: %s", aerr)
	}
	// The other plugin is not affected.
	switch h := r.Honest; {
	case h.Calls == 0:
		t.Errorf("no call reached the honest plugin during the attack")
	case h.Failures > 0:
		t.Errorf("%d of %d calls to the honest plugin failed during the attack, first: %s", h.Failures, h.Calls, h.FirstErr)
	case h.WorstMs > 1000:
		t.Errorf("a call to the honest plugin took %.0f ms, past its 1 s deadline", h.WorstMs)
	}
	// The attacked link.
	switch {
	case a.End == endViolation && !r.Ended:
		t.Errorf("the hostile link did not end within %v (a call after the attack: %s %s)", a.bound(), r.PostCode, r.PostErr)
	case a.End == endSurvive && r.Ended:
		t.Errorf("the hostile link ended (%s: %s); it must survive this", r.EndCode, r.EndMsg)
	case !r.Ended && r.PostCode != "OK":
		t.Errorf("the link is up but a call on it failed: %s", r.PostErr)
	case r.Ended:
		checkEnd(t, a, r)
	}
	if r.CloseHung {
		t.Errorf("Client.Close did not return within 15 s")
	}
	if r.Tainted {
		t.Errorf("something hung in the host (see calls and Close)")
	}
	for _, l := range r.Leftovers {
		t.Errorf("not back to baseline after the attack: %s", l)
	}
	if a.Check != nil {
		for _, f := range a.Check(r) {
			t.Error(f)
		}
	}
	if t.Failed() {
		t.Logf("host log (tail):\n%s", strings.Join(r.Log, "\n"))
	}
}

func checkEnd(t *testing.T, a *pluginAttackDef, r *hostReport) {
	t.Helper()
	if a.AnyEnd {
		if r.EndCode == plexus.OK.String() {
			t.Errorf("the link ended with OK")
		}
	} else if !slices.ContainsFunc(a.codes(), func(c plexus.Code) bool { return c.String() == r.EndCode }) {
		t.Errorf("the link ended with %s (%s), want one of %v", r.EndCode, r.EndMsg, a.codes())
	}
	if len(a.MsgAny) > 0 && !slices.ContainsFunc(a.MsgAny, func(s string) bool { return strings.Contains(r.EndMsg, s) }) {
		t.Errorf("the link's end status %q names none of %q", r.EndMsg, a.MsgAny)
	}
	if !r.PostIsEnd {
		t.Errorf("a call after the link ended failed with %s (%s), not with the link's status %s", r.PostCode, r.PostErr, r.EndCode)
	}
}
