package shapetest

import (
	"testing"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport/shmlink"
	"github.com/stretchr/testify/require"
)

func TestShapesSHM(t *testing.T) {
	a, b, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
	require.NoError(t, err)
	runAll(t, a, b)
}
