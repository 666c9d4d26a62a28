package kvtest

import "fmt"

// Types with msgp-generated methods (types_gen.go, by msgp v1.6.5:
// msgp -file types.go -o types_gen.go -tests=false).

// Entry is a stored value; it is also the message of the typed topic
// kv.*.changed (EntryTopic), which a store publishes on when a key
// changes.
//
//plexus:topic kv.*.changed
type Entry struct {
	Key   string   `msg:"key"`
	Value []byte   `msg:"value"`
	Tags  []string `msg:"tags"`
}

// NotFoundError is the application error of a missing key.
type NotFoundError struct {
	Key string `msg:"key"`
}

func (e *NotFoundError) Error() string     { return fmt.Sprintf("key %q not found", e.Key) }
func (e *NotFoundError) ErrorName() string { return "kvtest.NotFound" }
