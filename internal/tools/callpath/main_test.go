package main

import (
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCallPathMeasures runs the tool on this module and checks what it
// prints: the generated client's method first, the session's Invoke and
// the ring on the path, and a count line that agrees with the numbered
// lines.
func TestCallPathMeasures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an instrumented copy of the module")
	}
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	runErr := run()
	os.Stdout = stdout
	require.NoError(t, w.Close())
	out := <-done
	require.NoError(t, runErr, out)

	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Contains(t, lines[0], "kvtest.(*StoreClient).Get", "the first function entered")
	require.Contains(t, out, "session.(*Session).Invoke")
	require.Contains(t, out, "ring.(*Producer).Push")
	require.Contains(t, out, "ring.(*Consumer).Pop")
	numbered := regexp.MustCompile(`\[(\d+)\]$`)
	n := 0
	for _, l := range lines {
		if m := numbered.FindStringSubmatch(l); m != nil {
			n++
			require.Equal(t, m[1], itoa(n), "numbering: %s", l)
		}
	}
	last := lines[len(lines)-1]
	require.Regexp(t, `; `+itoa(n)+` functions in \d+ files on the call path proper`, last)
}

func itoa(n int) string { return strconv.Itoa(n) }
