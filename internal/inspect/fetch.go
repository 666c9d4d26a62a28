package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"
	"time"

	"github.com/plexus-ipc/plexus/host"
)

// maxDoc bounds the document Fetch reads: thousands of clients fit; a
// peer that sends without end does not make Fetch hold more.
const maxDoc = 16 << 20

// fetchWait bounds a Fetch whose context has no deadline: the host
// answers at once (it asks no plugin anything).
const fetchWait = 5 * time.Second

// Fetch reads the introspection document of the host process pid: raw is
// the document as it came (one JSON object), doc the same decoded. It
// fails, saying what to do, when the process has no endpoint (the host
// must call host.ServeInspect) or speaks another version of the document.
func Fetch(ctx context.Context, pid int) (raw []byte, doc host.InspectDoc, err error) {
	path := host.InspectPath(pid)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fetchWait)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, doc, fmt.Errorf("process %d has no introspection socket at %s: the host must call host.ServeInspect "+
			"(and this command must run as the host's user, with the same TMPDIR)", pid, path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, doc, fmt.Errorf("nothing listens at %s: host process %d has ended or called host.StopInspect", path, pid)
	case err != nil:
		return nil, doc, fmt.Errorf("connecting to host process %d at %s: %w", pid, path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	raw, err = io.ReadAll(io.LimitReader(conn, maxDoc+1))
	switch {
	case err != nil:
		return nil, doc, fmt.Errorf("reading from host process %d at %s: %w", pid, path, err)
	case len(raw) > maxDoc:
		return nil, doc, fmt.Errorf("host process %d sent more than %d bytes", pid, maxDoc)
	case len(bytes.TrimSpace(raw)) == 0:
		// A host that refused this user closes without a word.
		return nil, doc, fmt.Errorf("host process %d closed the connection without an answer "+
			"(it answers only its own user and root)", pid)
	}
	raw = bytes.TrimSpace(raw)
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, doc, fmt.Errorf("host process %d sent a document that is not JSON: %w", pid, err)
	}
	if doc.Version != host.InspectVersion {
		return nil, doc, fmt.Errorf("host process %d speaks introspection version %d; this plexus reads version %d",
			pid, doc.Version, host.InspectVersion)
	}
	return raw, doc, nil
}
