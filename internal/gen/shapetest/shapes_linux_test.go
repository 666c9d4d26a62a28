package shapetest

import (
	"testing"

	"github.com/plexus-ipc/plexus/shm"
	shmtransport "github.com/plexus-ipc/plexus/transport/shm"
	"github.com/stretchr/testify/require"
)

func TestShapesSHM(t *testing.T) {
	a, b, err := shmtransport.Pair(shm.Config{}, shmtransport.Config{})
	require.NoError(t, err)
	runAll(t, a, b)
}
