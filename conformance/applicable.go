package conformance

import (
	"sort"
	"testing"
)

// RunApplicable is Run for envs to which some scenarios or roles cannot
// apply: a plugin written in another language (python/) only ever accepts
// the host's link, so it is the callee of the host-calls-plugin role and
// cannot be the initiator that the plugin-calls-host role needs. It runs
// every scenario against every env in both roles, as subtests named
// <scenario>/<env>/<role> like Run's, one fresh link each, one at a time,
// except those notApplicable names.
//
// notApplicable maps a scenario name, a role name, or "<scenario>/<role>"
// to the reason it cannot apply: those subtests are skipped with that
// reason (visible in go test -v), never silently. A key that names no
// scenario or role fails the test, so that the list cannot go stale.
func RunApplicable(t *testing.T, notApplicable map[string]string, envs ...Env) {
	known := map[string]bool{}
	for _, r := range Roles {
		known[r.Name] = true
	}
	for _, sc := range scenarios() {
		known[sc.name] = true
		for _, r := range Roles {
			known[sc.name+"/"+r.Name] = true
		}
	}
	var stale []string
	for k := range notApplicable {
		if !known[k] {
			stale = append(stale, k)
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		t.Fatalf("conformance: the not-applicable list names no scenario or role: %q", stale)
	}
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			if why, ok := notApplicable[sc.name]; ok {
				t.Skipf("not applicable: %s", why)
			}
			for _, env := range envs {
				t.Run(env.Name, func(t *testing.T) {
					for _, r := range Roles {
						t.Run(r.Name, func(t *testing.T) {
							why, ok := notApplicable[r.Name]
							if w, ok2 := notApplicable[sc.name+"/"+r.Name]; ok2 {
								why, ok = w, true
							}
							if ok {
								t.Skipf("not applicable: %s", why)
							}
							runScenario(t, env, r, sc)
						})
					}
				})
			}
		})
	}
}
