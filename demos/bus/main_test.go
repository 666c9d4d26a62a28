//go:build linux

package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/demos/internal/demotest"
)

func TestMain(m *testing.M) { demotest.Main(m, pluginConfig) }

func TestDemo(t *testing.T) {
	const jobs = 9
	s := demotest.Run(t, run, "-jobs", strconv.Itoa(jobs))
	for _, want := range []string{
		"bus served to 3 plugins over shared memory: indexer (pid ",
		"  doc.17.saved -> auditor, indexer, thumbnailer\n",
		"  doc.42.saved -> auditor, indexer, thumbnailer\n",
		"  doc.99.saved -> auditor, indexer, thumbnailer\n",
		"9 jobs, spread over the queue group \"workers\" (each done by one plugin):\n",
		"  every job done once: indexer ",
		"a 16 MiB frame broadcast to 3 plugins (sealed once, read in place by each):\n",
		"closed the plugins: ok\n",
	} {
		require.Contains(t, s, want)
	}
	// Every job once, by one of the plugins.
	done := regexp.MustCompile(`(?m)^  (photo-\d\d\.jpg) done by (\w+)$`).FindAllStringSubmatch(s, -1)
	require.Len(t, done, jobs)
	seen := map[string]bool{}
	for _, m := range done {
		require.False(t, seen[m[1]], "%s twice", m[1])
		seen[m[1]] = true
		require.Contains(t, plugins, m[2])
	}
	// The counts per plugin add up.
	counts := regexp.MustCompile(`(\w+) (\d+)`).FindAllStringSubmatch(s[strings.Index(s, "every job done once: "):strings.Index(s, "a 16 MiB")], -1)
	total := 0
	for _, c := range counts {
		n, _ := strconv.Atoi(c[2])
		total += n
	}
	require.Equal(t, jobs, total)
	// At most one copy of the frame in all.
	m := regexp.MustCompile(`bytes copied: (\d+) \(the seal (\d+); the host's links (\d+),`).FindStringSubmatch(s)
	require.NotNil(t, m)
	all, _ := strconv.Atoi(m[1])
	seal, _ := strconv.Atoi(m[2])
	links, _ := strconv.Atoi(m[3])
	require.Equal(t, 16<<20, seal, "sealed: the one copy")
	require.Less(t, links, 64<<10, "the links copied no frame")
	require.LessOrEqual(t, all, 16<<20+64<<10, "at most one copy in all")
}
