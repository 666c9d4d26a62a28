package host

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// checkPeer lets a connection to the introspection socket have the
// document only if its process runs as this process's user, or as root:
// the document names the plugins, their PIDs and their errors. The
// directory's mode already keeps other users out; this holds even if
// that directory was made by someone else's mistake.
func checkPeer(conn *net.UnixConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if uid := uint32(os.Getuid()); cred.Uid != uid && cred.Uid != 0 {
		return fmt.Errorf("host: introspection refused to uid %d (pid %d)", cred.Uid, cred.Pid)
	}
	return nil
}

// privateDir checks that dir, where the introspection socket goes, is a
// directory (not a link to one) that this user owns and no one else may
// enter; one of ours that others may enter is made private first. A
// directory of that name made by another user (in a shared /tmp) is
// refused: its owner could replace our socket or read the document.
func privateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case !ok || st.Uid != uint32(os.Getuid()):
		return fmt.Errorf("%s belongs to another user", dir)
	case fi.Mode().Perm()&0o077 != 0:
		return os.Chmod(dir, 0o700)
	}
	return nil
}
