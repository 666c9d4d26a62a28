package host_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus"
)

func TestLogForwarding(t *testing.T) {
	var buf logBuf
	c := start(t, config(t, &buf))
	const long = 300_000
	require.NoError(t, c.Invoke(context.Background(), logID, u64(long), nil))

	var structured, plain, longEntry map[string]any
	require.Eventually(t, func() bool {
		structured, plain, longEntry = buf.find("structured entry"), buf.find("plain stdout line"), buf.find("long:")
		return structured != nil && plain != nil && longEntry != nil
	}, 5*time.Second, 10*time.Millisecond)

	require.Equal(t, "warn", structured["@level"], "an hclog JSON entry keeps its level")
	require.Equal(t, float64(42), structured["answer"], "and its fields")
	require.Equal(t, "plugin", structured["who"])
	require.Equal(t, "echo", structured["module"])
	require.Equal(t, "host.echo", structured["@module"], "under the host's logger named after the plugin")

	require.Equal(t, "info", plain["@level"])
	require.Equal(t, "stdout", plain["stream"])

	require.Len(t, longEntry["@message"], len("long:")+long, "a long line arrives whole")
	require.Nil(t, longEntry["partial"])
}

func TestLogForwardingHugeLine(t *testing.T) {
	var buf logBuf
	c := start(t, config(t, &buf))
	const huge = 2<<20 + 12345 // beyond the 1 MiB entry bound
	require.NoError(t, c.Invoke(context.Background(), logID, u64(huge), nil))
	require.Eventually(t, func() bool {
		n := 0
		for _, e := range buf.entries() {
			if m, _ := e["@message"].(string); strings.HasPrefix(m, "long:") || (e["partial"] == true) || strings.Trim(m, "x") == "" && len(m) > 1000 {
				n += len(m)
			}
		}
		return n == len("long:")+huge
	}, 10*time.Second, 20*time.Millisecond, "every byte of the line is forwarded, in pieces")
	// The link is unaffected.
	got, err := echo(context.Background(), c, "still here")
	require.NoError(t, err)
	require.Equal(t, "still here", got)
}

func TestPanicIsLoggedWithStack(t *testing.T) {
	var buf logBuf
	c := start(t, config(t, &buf))
	err := c.Invoke(context.Background(), crashID, plexus.Raw{}, nil)
	require.True(t, errors.Is(err, plexus.ErrPeerDied), "%v", err)
	var e map[string]any
	require.Eventually(t, func() bool {
		e = buf.find("plugin crashed: panic: test plugin crashes on purpose")
		return e != nil
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "error", e["@level"])
	stack, _ := e["stack"].(string)
	require.Contains(t, stack, "goroutine ")
	require.Contains(t, stack, "main_linux_test.go", "the trace names the panicking code")
}
