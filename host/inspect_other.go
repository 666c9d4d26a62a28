//go:build !linux

package host

import (
	"fmt"
	"net"
	"os"
	"runtime"
)

// checkPeer accepts every connection: this platform gives no peer
// credential that the portable net package reaches, and the socket's
// directory, which only this user may enter, is the guard.
func checkPeer(*net.UnixConn) error { return nil }

// privateDir checks that dir, where the introspection socket goes, is a
// directory (not a link to one) that no one else may enter, making it so
// if it is not (which fails if it is another user's). Windows has no
// such mode bits: there the directory is in the user's own temporary
// directory, which its ACL keeps private.
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	switch {
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0:
		return os.Chmod(dir, 0o700)
	}
	return nil
}
