package shapetest

import "fmt"

// Types with msgp-generated methods (types_gen.go, by msgp v1.6.5:
// msgp -file types.go -o types_gen.go -tests=false; not a go:generate
// line, so that go generate ./... needs no msgp binary).

// Point is a small struct message.
type Point struct {
	X    int64    `msg:"x"`
	Y    float64  `msg:"y"`
	Tags []string `msg:"tags"`
}

// ConflictError is an application error without an ErrorName method: the
// generated code registers it as "shapetest.ConflictError".
type ConflictError struct {
	Key     string `msg:"key"`
	Version uint64 `msg:"version"`
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict on %q at version %d", e.Key, e.Version)
}
