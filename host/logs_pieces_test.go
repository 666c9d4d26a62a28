package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
)

// forwarded runs forward over out and returns the entries it logged.
func forwarded(t *testing.T, out string) []map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true, Level: hclog.Trace})
	forward(strings.NewReader(out), log, "stderr", hclog.Debug, nil, nil)
	var entries []map[string]any
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 4<<20), 8<<20)
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		entries = append(entries, e)
	}
	require.NoError(t, sc.Err())
	return entries
}

// TestForwardLinePieces: a line longer than maxEntry arrives in pieces,
// each but the last marked partial, whatever its length: a line of an
// exact multiple of maxEntry too (its last piece is not partial, and its
// end of line is no entry of its own), with "\n" or "\r\n".
func TestForwardLinePieces(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		eol  string
	}{
		{"3 MiB exactly", 3 * maxEntry, "\n"},
		{"3 MiB exactly, CRLF", 3 * maxEntry, "\r\n"},
		{"2 MiB and a bit", 2*maxEntry + 12345, "\n"},
		{"1 MiB exactly", maxEntry, "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := strings.Repeat("x", tc.n)
			entries := forwarded(t, line+tc.eol+"after\n")
			pieces := (tc.n + maxEntry - 1) / maxEntry
			require.Len(t, entries, pieces+1, "the pieces and the next line, nothing else")
			total := 0
			for i, e := range entries[:pieces] {
				msg, _ := e["@message"].(string)
				total += len(msg)
				if i < pieces-1 {
					require.Equal(t, true, e["partial"], "piece %d", i)
				} else {
					require.Nil(t, e["partial"], "the last piece ends the line")
				}
			}
			require.Equal(t, tc.n, total, "every byte of the line, once")
			require.Equal(t, "after", entries[pieces]["@message"])
		})
	}
}
