package gen

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"path/filepath"
	"strings"
)

// directives is what a doc comment says to the generator.
type directives struct {
	service bool
	name    string // name= of //plexus:service
	notify  bool   // //plexus:notify
	idem    bool   // //plexus:idempotent
	topic   string // //plexus:topic <pattern> (topic.go)
	errors  []*errType
}

// directives reads the //plexus: lines of a doc comment: //plexus:service
// [name=X] on an interface, //plexus:notify on a method, //plexus:errors
// A,B on either. Any other //plexus: line is an error, so that a typo does
// not silently change what is generated.
func (l *loader) directives(doc *ast.CommentGroup, what string, onType bool) (directives, error) {
	var ds directives
	if doc == nil {
		return ds, nil
	}
	file := l.fileOf(doc.Pos())
	for _, c := range doc.List {
		rest, found := strings.CutPrefix(c.Text, "//plexus:")
		if !found {
			continue
		}
		verb, args, _ := strings.Cut(rest, " ")
		if err := l.directive(&ds, file, verb, args, onType); err != nil {
			return ds, fmt.Errorf("gen: %s: %s: //plexus:%s: %v", l.fset.Position(c.Pos()), what, verb, err)
		}
	}
	return ds, nil
}

// directive applies one //plexus:verb line, with its args, to ds; file
// holds the comment. Its error says only what is wrong with the line:
// directives adds where it is.
func (l *loader) directive(ds *directives, file *token.File, verb, args string, onType bool) error {
	switch verb {
	case "service":
		return ds.serviceDirective(args, onType)
	case "notify":
		return ds.notifyDirective(args, onType)
	case "errors":
		return l.errorsDirective(ds, file, args)
	case "idempotent":
		return ds.idempotentDirective(args, onType)
	case "topic":
		return ds.topicDirective(args, onType)
	}
	return fmt.Errorf("unknown directive (known: service, notify, idempotent, errors, topic)")
}

// serviceDirective applies //plexus:service [name=X]. Its only option
// names the service on the wire, which the method IDs derive from.
func (ds *directives) serviceDirective(args string, onType bool) error {
	if !onType {
		return fmt.Errorf("marks an interface, not a method")
	}
	ds.service = true
	for _, f := range strings.Fields(args) {
		v, ok := strings.CutPrefix(f, "name=")
		if !ok || v == "" {
			return fmt.Errorf("unknown option %q (the only option is name=pkg.Name)", f)
		}
		ds.name = v
	}
	return nil
}

// notifyDirective applies //plexus:notify, which has no arguments.
func (ds *directives) notifyDirective(args string, onType bool) error {
	if onType {
		return fmt.Errorf("marks a method of a service, not a type")
	}
	if strings.TrimSpace(args) != "" {
		return fmt.Errorf("takes no arguments")
	}
	ds.notify = true
	return nil
}

// idempotentDirective applies //plexus:idempotent, which has no
// arguments: running the method twice with the same arguments has the
// effect of running it once, so a retry policy may call it again after a
// failure that may have come after it ran (MethodDesc.Idempotent).
func (ds *directives) idempotentDirective(args string, onType bool) error {
	if onType {
		return fmt.Errorf("marks a method of a service, not a type")
	}
	if strings.TrimSpace(args) != "" {
		return fmt.Errorf("takes no arguments")
	}
	ds.idem = true
	return nil
}

// errorsDirective applies //plexus:errors A,otherpkg.B: the types are
// resolved in file, for its imports, and kept in the order listed.
func (l *loader) errorsDirective(ds *directives, file *token.File, args string) error {
	names := strings.FieldsFunc(args, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(names) == 0 {
		return fmt.Errorf("lists no types (write //plexus:errors NotFound,otherpkg.Conflict)")
	}
	for _, n := range names {
		e, err := l.errType(file, n)
		if err != nil {
			return err
		}
		ds.errors = append(ds.errors, e)
	}
	return nil
}

// fileOf finds the syntax tree of the file holding pos, for its imports.
func (l *loader) fileOf(pos token.Pos) *token.File { return l.fset.File(pos) }

// errType resolves a type named in //plexus:errors: a type of the
// package, or pkg.Type for a package the file imports.
func (l *loader) errType(file *token.File, name string) (*errType, error) {
	scope := l.pkg.Scope()
	local := name
	if q, n, ok := strings.Cut(name, "."); ok {
		scope, local = nil, n
		for _, imp := range l.pkg.Imports() {
			if imp.Name() == q {
				scope = imp.Scope()
			}
		}
		if scope == nil {
			return nil, fmt.Errorf("%s: package %s is not imported by %s", name, q, filepath.Base(file.Name()))
		}
	}
	tn, ok := scope.Lookup(local).(*types.TypeName)
	if !ok || (scope != l.pkg.Scope() && !tn.Exported()) {
		return nil, fmt.Errorf("%s is not a type", name)
	}
	ptr := types.NewPointer(tn.Type())
	ms := types.NewMethodSet(ptr)
	for _, m := range []string{"Error", "MarshalMsg", "UnmarshalMsg", "Msgsize"} {
		if ms.Lookup(nil, m) == nil {
			return nil, fmt.Errorf("*%s has no method %s: an application error implements error and msgp.Marshaler and msgp.Unmarshaler (run msgp on its file)", name, m)
		}
	}
	if !types.Implements(ptr, types.Universe.Lookup("error").Type().Underlying().(*types.Interface)) {
		return nil, fmt.Errorf("*%s does not implement error", name)
	}
	e := &errType{obj: tn}
	if sel := ms.Lookup(nil, "ErrorName"); sel != nil {
		sig := sel.Obj().Type().(*types.Signature)
		e.named = sig.Params().Len() == 0 && sig.Results().Len() == 1 && types.Identical(sig.Results().At(0).Type(), types.Typ[types.String])
	}
	return e, nil
}
