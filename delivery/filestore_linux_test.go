package delivery_test

import (
	"bytes"
	"os"
)

// fileStore is the chaos plugin's Store: the IDs in the file its handler
// appends to, read once at start, and those recorded since, in memory.
// Record writes nothing: the handler's own line, written before it
// returns, is the record, so that handling a message and recording its ID
// are one write, which a SIGKILL cannot split. (The receiving side calls
// a Store's methods one at a time, so the map needs no lock.)
type fileStore struct {
	seen map[string]bool
	dups *os.File // a line for each duplicate acknowledged without handling
}

// openFileStore reads the IDs in the file at path (the first field of
// each complete line; a torn last line would not count) and opens it for
// the handler's appends.
func openFileStore(path, dupsPath string) (*fileStore, *os.File, error) {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, err
	}
	st := &fileStore{seen: map[string]bool{}}
	for len(b) > 0 {
		line, rest, complete := bytes.Cut(b, []byte("\n"))
		if !complete {
			break
		}
		id, _, _ := bytes.Cut(line, []byte(" "))
		st.seen[string(id)] = true
		b = rest
	}
	if st.dups, err = os.OpenFile(dupsPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	return st, f, nil
}

func (s *fileStore) Seen(id string) bool {
	if s.seen[id] {
		_, _ = s.dups.Write([]byte(id + "\n"))
		return true
	}
	return false
}

func (s *fileStore) Record(id string) { s.seen[id] = true }
