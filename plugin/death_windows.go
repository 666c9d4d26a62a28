package plugin

import "github.com/hashicorp/go-hclog"

// checkHost: Windows has no parent-death signal and no process groups to
// kill; the plugin learns of its host's death from the end of its link
// and exits (DESIGN.md "Platforms").
func checkHost(int) (lineage, error) { return lineage{}, nil }

func hostGone(log hclog.Logger, _ lineage, why string) {
	log.Error("host is gone; exiting", "reason", why)
}
