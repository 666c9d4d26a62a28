//go:build linux

package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDemo runs the demo with every operation, as go run would.
func TestDemo(t *testing.T) {
	for _, op := range []string{"invert", "grayscale", "blur"} {
		t.Run(op, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out bytes.Buffer
			require.NoError(t, run(ctx, &out, []string{"-size", "160x120", "-op", op, "-tile", "50"}), out.String())
			s := out.String()
			t.Log(s)
			for _, want := range []string{
				"image 160x120 RGBA (0.1 MiB), " + op + "\n",
				"unary Apply: 0.1 MiB filtered in ",
				"same as Go's (checksum ",
				"server stream Progress: 10% .. 100% in 10 messages",
				"client stream Tiles: 3 tiles of 50 rows filtered in place",
				"bidi stream Stream: 3 tiles sent and 3 filtered tiles back",
				"notification Note: sent\n",
				"closed the plugin: ok\n",
			} {
				require.Contains(t, s, want)
			}
		})
	}
}
