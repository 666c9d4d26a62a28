package shapetest

import (
	"os"
	"testing"

	"github.com/plexus-ipc/plexus/internal/xproc"
)

func TestMain(m *testing.M) {
	xproc.Main()
	os.Exit(m.Run())
}
