package buslink_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plexus-ipc/plexus/shm"
	"github.com/plexus-ipc/plexus/transport"
	"github.com/plexus-ipc/plexus/transport/shmlink"
)

func init() {
	transports = append(transports, transportKind{"shm", func(t *testing.T) (transport.Transport, transport.Transport) {
		h, p, err := shmlink.Pair(shm.Config{}, shmlink.Config{})
		require.NoError(t, err)
		return h, p
	}})
}
