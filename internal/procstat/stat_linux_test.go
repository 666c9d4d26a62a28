package procstat

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFieldsOfSelf(t *testing.T) {
	f, err := Fields(os.Getpid())
	require.NoError(t, err)
	// /proc/<pid>/stat is the main thread's: it runs or sleeps while
	// the test's goroutine, on whatever thread, reads it.
	require.Contains(t, []string{"R", "S"}, f[State], "this process is alive as it reads its own state")
	ppid, err := Int(f, Ppid)
	require.NoError(t, err)
	require.EqualValues(t, os.Getppid(), ppid)
	pgrp, err := Int(f, Pgrp)
	require.NoError(t, err)
	require.EqualValues(t, syscall.Getpgrp(), pgrp)
	_, err = Fields(-1)
	require.Error(t, err)
}
