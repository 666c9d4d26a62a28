//go:build linux

package main

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/demos/internal/demotest"
	"github.com/plexus-ipc/plexus/session"
)

func TestMain(m *testing.M) { demotest.Main(m, pluginConfig) }

func TestDemo(t *testing.T) {
	s := demotest.Run(t, run, "-fast", "2000")
	require.Contains(t, s, "read message 1 of 100, then the reader stops reading\n")
	for _, kind := range []string{"server stream", "client stream", "bidi stream"} {
		require.Regexp(t, kind+`: +2000 messages \(7.8 MiB\) in .*, while the slow stream waits\n`, s)
	}
	m := regexp.MustCompile(`meanwhile the plugin sent (\d+) of 100 messages and waits: (\d+) unread`).FindStringSubmatch(s)
	require.NotNil(t, m, "the slow stream's producer line")
	sent, _ := strconv.Atoi(m[1])
	// The window is in bytes: 4 KiB messages (plus a few bytes of
	// framing each) fit 16 times, and a sender may overdraw by one.
	window := session.DefaultChannelWindow / 4096
	require.GreaterOrEqual(t, sent, 2, "the producer sent ahead of the reader")
	require.LessOrEqual(t, sent, 1+window+1, "flow control held the producer")
	require.Equal(t, fmt.Sprint(sent-1), m[2])
	require.Contains(t, s, "read the other 99 messages, 1ms apart, in order")
	require.Contains(t, s, "closed the plugin: ok\n")
}
