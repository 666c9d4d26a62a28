//go:build linux

package shmlink

import (
	"os"
	"testing"

	"github.com/plexus-ipc/plexus/internal/udsbench"
	"github.com/plexus-ipc/plexus/internal/xproc"
)

func TestMain(m *testing.M) {
	xproc.Main()
	udsbench.MaybeServePeer()
	os.Exit(m.Run())
}
