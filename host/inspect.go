package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The introspection endpoint (DESIGN.md "Inspecting a live host"): a host
// that calls ServeInspect listens on a Unix socket named after its PID,
// and answers each connection with one JSON document of its live clients
// (InspectDoc), which plexus inspect shows. It is off unless asked for:
// it is a file another program can open, and a host may not want one.

// InspectVersion is the version of the document ServeInspect serves. A
// reader refuses other versions; fields may be added within one.
const InspectVersion = 1

// InspectDoc is the document ServeInspect serves on each connection.
type InspectDoc struct {
	Version int       `json:"version"`
	Pid     int       `json:"pid"`
	Time    time.Time `json:"time"`
	// Clients are every client of the process that has started and is
	// not closed, pool members included, ordered by name and plugin PID.
	Clients []ClientStats `json:"clients"`
}

// Inspect returns the document ServeInspect serves, taken now.
func Inspect() InspectDoc {
	return InspectDoc{Version: InspectVersion, Pid: os.Getpid(), Time: time.Now(), Clients: liveStats()}
}

// inspectWriteWait bounds how long one reader may take to read the
// document. Connections are served one at a time, so a reader that does
// not read holds up the next one by this much, and StopInspect too.
const inspectWriteWait = 2 * time.Second

// InspectDir is the directory of the introspection sockets of this user's
// processes: plexus-<uid> (plexus-user on Windows, which has no uid) in
// os.TempDir, so a reader must run as the same user with the same TMPDIR.
func InspectDir() string {
	uid := "user"
	if id := os.Getuid(); id >= 0 {
		uid = strconv.Itoa(id)
	}
	return filepath.Join(os.TempDir(), "plexus-"+uid)
}

// InspectPath is where the process pid's ServeInspect listens.
func InspectPath(pid int) string {
	return filepath.Join(InspectDir(), strconv.Itoa(pid)+".sock")
}

// inspector is the process's endpoint, if ServeInspect started it.
var inspector struct {
	mu   sync.Mutex
	ln   *net.UnixListener
	path string
	done chan struct{} // closed when the serving goroutine has returned
}

// ServeInspect starts the process's introspection endpoint, if it is not
// running yet, and returns the socket's path (InspectPath of this
// process). The socket is in a directory only this user may enter
// (created mode 0700; an existing one that others may enter is refused),
// and on Linux a connection from another user (other than root) is
// closed without an answer. Each connection gets the InspectDoc of that
// moment and is closed; taking it costs each client what Client.Stats
// costs, and no plugin is asked anything. StopInspect stops it.
func ServeInspect() (string, error) {
	inspector.mu.Lock()
	defer inspector.mu.Unlock()
	if inspector.ln != nil {
		return inspector.path, nil
	}
	dir := InspectDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("host: introspection socket: %w", err)
	}
	if err := privateDir(dir); err != nil {
		return "", fmt.Errorf("host: introspection socket: %w", err)
	}
	path := InspectPath(os.Getpid())
	// A file of this name is another process's that had our PID and did
	// not stop its endpoint (it was killed, say): nobody listens there.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("host: introspection socket: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return "", fmt.Errorf("host: introspection socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	inspector.ln, inspector.path, inspector.done = ln, path, make(chan struct{})
	go serveInspect(ln, inspector.done)
	return path, nil
}

// StopInspect stops the endpoint ServeInspect started, removes its
// socket, and returns once no connection is being served (within
// inspectWriteWait). It does nothing if the endpoint is not running.
func StopInspect() {
	inspector.mu.Lock()
	ln, done := inspector.ln, inspector.done
	inspector.ln, inspector.path, inspector.done = nil, "", nil
	inspector.mu.Unlock()
	if ln == nil {
		return
	}
	_ = ln.Close()
	<-done
}

// serveInspect answers connections one at a time until ln is closed.
func serveInspect(ln *net.UnixListener, done chan struct{}) {
	defer close(done)
	for {
		conn, err := ln.AcceptUnix()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of descriptors, say: try again shortly rather than
			// spin, and rather than give the endpoint up for good.
			time.Sleep(100 * time.Millisecond)
			continue
		}
		answerInspect(conn)
	}
}

// answerInspect writes the document to one reader, if it may have it,
// and closes the connection.
func answerInspect(conn *net.UnixConn) {
	defer conn.Close()
	if checkPeer(conn) != nil {
		return
	}
	b, err := json.Marshal(Inspect())
	if err != nil {
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(inspectWriteWait))
	_, _ = conn.Write(append(b, '\n'))
}
