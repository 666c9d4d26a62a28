//go:build !unix

package udsbench

import (
	"errors"
	"os/exec"
)

// socketpair: inheriting a socket through exec needs Unix; the package
// builds here so that its importers do, but StartPeer fails.
func socketpair() ([2]int, error) { return [2]int{}, errors.ErrUnsupported }

func setPeerAttrs(*exec.Cmd) {}
