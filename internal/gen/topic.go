package gen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/types"
	"hash/fnv"
	"path/filepath"
	"strings"

	"github.com/plexus-ipc/plexus/bus"
)

// A typed topic of the bus: a message type whose doc comment has the line
// "//plexus:topic <pattern>". The generator writes
//
//	var <Type>Topic = genrt.Topic[<Type>, *<Type>]{Pattern: "<pattern>", Type: <hash>}
//
// whose Message, Options and Decode publish, subscribe to and decode the
// topic's messages with their type checked by the bus (bus/types.go).

// topic is one type to write a Topic for.
type topic struct {
	name    string     // Go name of the message type
	pattern string     // its subjects
	typ     types.Type // the message type
	file    string     // base name of the file that declares it
}

// topicDirective applies //plexus:topic <pattern> (to a type).
func (ds *directives) topicDirective(args string, onType bool) error {
	if !onType {
		return fmt.Errorf("marks a message type, not a method")
	}
	p := strings.TrimSpace(args)
	if p == "" || strings.ContainsAny(p, " \t") {
		return fmt.Errorf("takes one subject pattern (write //plexus:topic doc.*.saved)")
	}
	if err := bus.ValidatePattern(p); err != nil {
		return err
	}
	ds.topic = p
	return nil
}

// topics returns the message types that files mark as topics, in the
// order of the files and of the declarations in each.
func (l *loader) topics(files []*ast.File) ([]*topic, error) {
	return eachTypeSpec(files, l.topicOf)
}

// topicOf returns the topic ts is marked as, or nil.
func (l *loader) topicOf(f *ast.File, gd *ast.GenDecl, ts *ast.TypeSpec) (*topic, error) {
	doc := ts.Doc
	if doc == nil && len(gd.Specs) == 1 {
		doc = gd.Doc
	}
	ds, err := l.directives(doc, ts.Name.Name, true)
	if err != nil || ds.topic == "" {
		return nil, err
	}
	pos := l.fset.Position(ts.Pos())
	obj := l.pkg.Scope().Lookup(ts.Name.Name)
	if obj == nil {
		return nil, fmt.Errorf("gen: %s: topic type %s not found", pos, ts.Name.Name)
	}
	if sh, err := shapeOf(obj.Type()); err != nil || sh != shMsg {
		return nil, fmt.Errorf("gen: %s: //plexus:topic marks %s, which is not a message type (a named type whose pointer has msgp's MarshalMsg, UnmarshalMsg and Msgsize)", pos, ts.Name.Name)
	}
	return &topic{name: ts.Name.Name, pattern: ds.topic, typ: obj.Type(), file: filepath.Base(l.fset.Position(f.Pos()).Filename)}, nil
}

// topicHash is a topic's type: the 64-bit FNV-1a hash of its pattern and
// of its message type in canonical form (see canonical), so that a
// change of either changes it.
func topicHash(tp *topic) uint64 {
	h := fnv.New64a()
	h.Write([]byte("plexus.topic.v1 " + tp.pattern + " " + canonical(tp.typ)))
	return h.Sum64()
}

// topicVar writes the Topic value of tp.
func (c *coder) topicVar(w *bytes.Buffer, tp *topic) {
	fmt.Fprintf(w, "\n// %sTopic is the typed topic %q of %s messages: publish with\n", tp.name, tp.pattern, tp.name)
	fmt.Fprintf(w, "// %sTopic.Message, subscribe with %sTopic.Options, decode with\n", tp.name, tp.name)
	fmt.Fprintf(w, "// %sTopic.Decode (genrt.Topic); the bus checks the type.\n", tp.name)
	fmt.Fprintf(w, "var %sTopic = genrt.Topic[%s, *%s]{Pattern: %q, Type: %#x}\n", tp.name, tp.name, tp.name, tp.pattern, topicHash(tp))
}
