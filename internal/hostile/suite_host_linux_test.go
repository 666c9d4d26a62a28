package hostile

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plexus-ipc/plexus/plugin"
)

// TestHostileHost runs every attack of a hostile host on a real plugin
// (the "hostile-host" role, a process of its own, starts one plugin per
// attack) and checks that the plugin neither crashed nor hung: it exits
// within a bound, with ExitFailed and the violation (or bound) named on its
// stderr, or, where it may survive the attack, still answers and then
// leaves gracefully; never with a panic or a fatal error.
func TestHostileHost(t *testing.T) {
	runAttacks(t, "hostile-host", hostAttacks(), func(a *hostAttackDef) string { return a.Name },
		func(*hostAttackDef) time.Duration { return 90 * time.Second },
		checkVictim)
}

func checkVictim(t *testing.T, a *hostAttackDef, r *victimReport) {
	t.Helper()
	if r.Err != "" {
		t.Fatalf("the attack could not run: %s", r.Err)
	}
	if r.WarmupErr != "" {
		t.Fatalf("the plugin's warm-up calls failed: %s", r.WarmupErr)
	}
	if r.AttackErr != "" && r.Exit == plugin.ExitOK {
		t.Errorf("the attack failed: %s", r.AttackErr)
	}
	for _, crash := range []string{"panic: ", "fatal error: "} {
		if strings.Contains(r.Stderr, crash) {
			t.Errorf("the plugin crashed (%q on its stderr)", crash)
		}
	}
	switch {
	case r.Hung:
		t.Errorf("the plugin was still running 10 s after the attack (it neither ended the link nor left; killed)")
	case r.Signal != "":
		t.Errorf("the plugin was killed by %s", r.Signal)
	case !slices.Contains(a.Exit, r.Exit):
		t.Errorf("the plugin exited with %d, want one of %v", r.Exit, a.Exit)
	case r.Exit == plugin.ExitFailed && len(a.StderrAny) > 0 &&
		!slices.ContainsFunc(a.StderrAny, func(s string) bool { return strings.Contains(r.Stderr, s) }):
		t.Errorf("the plugin's stderr names none of %q", a.StderrAny)
	case r.Exit == plugin.ExitOK && r.ProbeErr != "":
		t.Errorf("the plugin survived but a call after the attack failed: %s", r.ProbeErr)
	}
	if a.Check != nil {
		for _, f := range a.Check(r) {
			t.Error(f)
		}
	}
}
