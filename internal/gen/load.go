package gen

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// OutputSuffix ends the name of the file Generate's output goes to; files
// with it are left out when the package is read, so that a stale output
// never stops the generator from replacing it.
const OutputSuffix = "_plexus.go"

// service is one interface to generate code for.
type service struct {
	name    string // Go name of the interface
	wire    string // name it is served under
	file    string // base name of the file that declares it
	methods []*method
}

type method struct {
	name    string
	kind    kind
	params  []types.Type // without the context and the stream funcs
	results []types.Type // without the error
	up      types.Type   // what the caller streams to the handler (func() (T, error) on the handler's side)
	down    types.Type   // what the handler streams to the caller (func(T) error)
	errors  []*errType   // declared application errors, the service's included
	// leaseArgs: the only parameter is a *session.Lease, sent as the
	// request itself; leaseResults: the only result is one, received as
	// the response itself (no tuple around either).
	leaseArgs, leaseResults bool
}

// errType is an application error type declared with //plexus:errors.
type errType struct {
	obj   *types.TypeName
	named bool // *T has ErrorName() string
}

// kind is a method's shape; its names are plexus.MethodKind's.
type kind int

const (
	kUnary kind = iota + 1
	kServerStream
	kClientStream
	kBidiStream
	kNotification
)

var kindNames = map[kind]string{
	kUnary: "Unary", kServerStream: "ServerStream", kClientStream: "ClientStream",
	kBidiStream: "BidiStream", kNotification: "Notification",
}

// importers are shared by every load, so that the packages a service
// imports (the standard library, plexus, msgp) are type-checked from
// source once per process, not once per Generate. The source importer is
// not safe for concurrent use, hence the lock.
var shared struct {
	sync.Mutex
	fset *token.FileSet
	imp  types.Importer
}

// load parses and type-checks the package in dir and returns it with its
// services. Type errors elsewhere in the package (code that uses the
// generated identifiers, say) are tolerated; the services' own signatures
// must check.
func load(dir string) (*types.Package, []*service, error) {
	bp, err := build.Default.ImportDir(dir, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("gen: reading %s: %w", dir, err)
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.imp == nil {
		shared.fset = token.NewFileSet()
		shared.imp = importer.ForCompiler(shared.fset, "source", nil)
	}
	fset := shared.fset
	var files []*ast.File
	for _, name := range bp.GoFiles {
		if strings.HasSuffix(name, OutputSuffix) {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, nil, fmt.Errorf("gen: %w", err)
		}
		files = append(files, f)
	}
	path, err := importPath(dir)
	if err != nil {
		return nil, nil, err
	}
	conf := types.Config{Importer: shared.imp, Error: func(error) {}}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	pkg, _ := conf.Check(path, fset, files, info)
	if pkg == nil {
		return nil, nil, fmt.Errorf("gen: type-checking %s failed", dir)
	}
	l := &loader{fset: fset, pkg: pkg}
	var svcs []*service
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				ds, err := l.directives(doc, ts.Name.Name, true)
				if err != nil {
					return nil, nil, err
				}
				if !ds.service {
					continue
				}
				wire := ds.name
				if wire == "" {
					wire = pkg.Name() + "." + ts.Name.Name
				}
				svc, err := l.newService(f, ts, wire, ds)
				if err != nil {
					return nil, nil, err
				}
				svcs = append(svcs, svc)
			}
		}
	}
	if len(svcs) == 0 {
		return nil, nil, fmt.Errorf("gen: no interface in %s is marked //plexus:service", dir)
	}
	if err := checkIDs(svcs); err != nil {
		return nil, nil, err
	}
	return pkg, svcs, nil
}

// importPath finds the import path of the package in dir from the
// nearest go.mod above it; signatures name types by their full path, so
// the package's own must be right too.
func importPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("gen: %w", err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					mod := strings.Trim(strings.TrimSpace(rest), `"`)
					rel, err := filepath.Rel(d, abs)
					if err != nil {
						return "", fmt.Errorf("gen: %w", err)
					}
					if rel == "." {
						return mod, nil
					}
					return mod + "/" + filepath.ToSlash(rel), nil
				}
			}
			return "", fmt.Errorf("gen: %s has no module line", filepath.Join(d, "go.mod"))
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("gen: %s is not inside a Go module (no go.mod above it)", dir)
		}
	}
}

type loader struct {
	fset *token.FileSet
	pkg  *types.Package
}

// directives is what a doc comment says to the generator.
type directives struct {
	service bool
	name    string // name= of //plexus:service
	notify  bool   // //plexus:notify
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
		pos := l.fset.Position(c.Pos())
		bad := func(format string, a ...any) (directives, error) {
			return ds, fmt.Errorf("gen: %s: %s: //plexus:%s: %s", pos, what, verb, fmt.Sprintf(format, a...))
		}
		switch verb {
		case "service":
			if !onType {
				return bad("marks an interface, not a method")
			}
			ds.service = true
			for _, f := range strings.Fields(args) {
				v, ok := strings.CutPrefix(f, "name=")
				if !ok || v == "" {
					return bad("unknown option %q (the only option is name=pkg.Name)", f)
				}
				ds.name = v
			}
		case "notify":
			if onType {
				return bad("marks a method of a service, not a type")
			}
			if strings.TrimSpace(args) != "" {
				return bad("takes no arguments")
			}
			ds.notify = true
		case "errors":
			names := strings.FieldsFunc(args, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
			if len(names) == 0 {
				return bad("lists no types (write //plexus:errors NotFound,otherpkg.Conflict)")
			}
			for _, n := range names {
				e, err := l.errType(file, n)
				if err != nil {
					return bad("%v", err)
				}
				ds.errors = append(ds.errors, e)
			}
		default:
			return bad("unknown directive (known: service, notify, errors)")
		}
	}
	return ds, nil
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

func (l *loader) newService(f *ast.File, ts *ast.TypeSpec, wire string, ds directives) (*service, error) {
	name := ts.Name.Name
	obj := l.pkg.Scope().Lookup(name)
	pos := l.fset.Position(obj.Pos())
	iface, ok := obj.Type().Underlying().(*types.Interface)
	astIface, astOK := ts.Type.(*ast.InterfaceType)
	if !ok || !astOK {
		return nil, fmt.Errorf("gen: %s: %s is marked //plexus:service but is not an interface", pos, name)
	}
	// Method doc comments live in the syntax tree only.
	docs := map[string]*ast.CommentGroup{}
	for _, fld := range astIface.Methods.List {
		for _, n := range fld.Names {
			docs[n.Name] = fld.Doc
		}
	}
	svc := &service{name: name, wire: wire, file: filepath.Base(l.fset.Position(f.Pos()).Filename)}
	taken := map[string]bool{}
	for i := range iface.NumMethods() {
		taken[iface.Method(i).Name()] = true
	}
	for i := range iface.NumMethods() {
		fn := iface.Method(i)
		where := fmt.Sprintf("gen: %s: %s.%s", l.fset.Position(fn.Pos()), name, fn.Name())
		if _, own := docs[fn.Name()]; !own {
			return nil, fmt.Errorf("%s: methods of embedded interfaces are not supported; declare it in %s", where, name)
		}
		mds, err := l.directives(docs[fn.Name()], name+"."+fn.Name(), false)
		if err != nil {
			return nil, err
		}
		m, err := newMethod(fn, mds.notify)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if m.kind != kUnary && m.kind != kNotification && taken["Open"+m.name] {
			return nil, fmt.Errorf("%s: the client's Open%s, which opens this stream, would collide with the method of that name", where, m.name)
		}
		m.errors = mergeErrors(ds.errors, mds.errors)
		svc.methods = append(svc.methods, m)
	}
	if len(svc.methods) == 0 {
		return nil, fmt.Errorf("gen: %s: service %s has no methods", pos, name)
	}
	return svc, nil
}

func mergeErrors(lists ...[]*errType) []*errType {
	var out []*errType
	seen := map[*types.TypeName]bool{}
	for _, l := range lists {
		for _, e := range l {
			if !seen[e.obj] {
				seen[e.obj] = true
				out = append(out, e)
			}
		}
	}
	return out
}

const streamHelp = "a stream is func(T) error for what the handler sends, func() (T, error) for what it receives, last among the parameters (both: the receiving one first)"

func newMethod(fn *types.Func, notify bool) (*method, error) {
	sig := fn.Type().(*types.Signature)
	if sig.Variadic() {
		return nil, fmt.Errorf("variadic methods are not supported")
	}
	ps, rs := sig.Params(), sig.Results()
	if ps.Len() == 0 || !isNamed(ps.At(0).Type(), "context", "Context") {
		return nil, fmt.Errorf("the first parameter must be a context.Context")
	}
	if rs.Len() == 0 || !isError(rs.At(rs.Len()-1).Type()) {
		return nil, fmt.Errorf("the last result must be an error")
	}
	m := &method{name: fn.Name(), kind: kUnary}
	leaseParam, leaseResult := 0, -1 // the position of a lease, if any
	nplain := ps.Len()
	for i := 1; i < ps.Len(); i++ {
		t := ps.At(i).Type()
		fs, ok := t.Underlying().(*types.Signature)
		if !ok {
			if nplain < ps.Len() {
				return nil, fmt.Errorf("parameter %d (%s) follows a stream: %s", i, short(t), streamHelp)
			}
			if isLease(t) {
				leaseParam = i
			} else if err := supported(t); err != nil {
				return nil, fmt.Errorf("parameter %d: %w", i, err)
			}
			m.params = append(m.params, t)
			continue
		}
		nplain = min(nplain, i)
		elem, dir := streamFunc(fs)
		switch {
		case dir == 0:
			return nil, fmt.Errorf("parameter %d: %s is not a stream: %s", i, short(t), streamHelp)
		case dir == dirDown && m.down == nil:
			m.down = elem
		case dir == dirUp && m.up == nil && m.down == nil:
			m.up = elem
		default:
			return nil, fmt.Errorf("parameter %d: %s: %s", i, short(t), streamHelp)
		}
		if isLease(elem) {
			continue // each message is a lease of its own
		}
		if err := supported(elem); err != nil {
			return nil, fmt.Errorf("parameter %d: stream of %w", i, err)
		}
	}
	for i := 0; i < rs.Len()-1; i++ {
		t := rs.At(i).Type()
		if isLease(t) {
			leaseResult = i
		} else if err := supported(t); err != nil {
			return nil, fmt.Errorf("result %d: %w", i, err)
		}
		m.results = append(m.results, t)
	}
	switch {
	case notify:
		if m.up != nil || m.down != nil {
			return nil, fmt.Errorf("//plexus:notify: a notification cannot stream")
		}
		if len(m.results) > 0 {
			return nil, fmt.Errorf("//plexus:notify: a notification returns only an error (whether it was sent), not %s", rs)
		}
		m.kind = kNotification
	case m.up != nil && m.down != nil:
		m.kind = kBidiStream
	case m.down != nil:
		m.kind = kServerStream
	case m.up != nil:
		m.kind = kClientStream
	}
	if (m.kind == kServerStream || m.kind == kBidiStream) && len(m.results) > 0 {
		return nil, fmt.Errorf("a method whose handler streams returns only an error, not %s: send the rest as messages", rs)
	}
	if err := m.checkLeases(leaseParam, leaseResult); err != nil {
		return nil, err
	}
	return m, nil
}

// leaseAlone says why a lease must be alone: it is the message itself.
const leaseAlone = "the lease is the whole message, sent as it is without a tuple around it (leases beside other values are not supported: put them in the lease's bytes, or make two calls)"

// checkLeases applies the rule of doc.go's "Leases" to the positions of a
// lease among the parameters (0: none) and the results (-1: none).
func (m *method) checkLeases(param, result int) error {
	streams := m.up != nil || m.down != nil
	switch {
	case param > 0 && streams:
		return fmt.Errorf("parameter %d: a *session.Lease cannot be an argument of a streaming method (its arguments travel as a tuple in the call's first frame): stream it as a message instead", param)
	case param > 0 && len(m.params) > 1:
		return fmt.Errorf("parameter %d: a *session.Lease must be the only argument of %s after the context: %s", param, m.name, leaseAlone)
	case result >= 0 && m.kind != kUnary:
		return fmt.Errorf("result %d: a *session.Lease can be the result of a unary method only (a client streaming method's results travel as a tuple): return it from a unary method or stream it", result)
	case result >= 0 && len(m.results) > 1:
		return fmt.Errorf("result %d: a *session.Lease must be the only result of %s before the error: %s", result, m.name, leaseAlone)
	}
	m.leaseArgs = param > 0
	m.leaseResults = result >= 0
	return nil
}

const (
	dirUp   = 1 // func() (T, error): the handler receives T
	dirDown = 2 // func(T) error: the handler sends T
)

func streamFunc(fs *types.Signature) (types.Type, int) {
	p, r := fs.Params(), fs.Results()
	switch {
	case fs.Variadic():
	case p.Len() == 1 && r.Len() == 1 && isError(r.At(0).Type()):
		return p.At(0).Type(), dirDown
	case p.Len() == 0 && r.Len() == 2 && isError(r.At(1).Type()):
		return r.At(0).Type(), dirUp
	}
	return nil, 0
}

func isNamed(t types.Type, pkg, name string) bool {
	n, ok := t.(*types.Named)
	if !ok {
		return false
	}
	o := n.Obj()
	return o.Pkg() != nil && o.Pkg().Path() == pkg && o.Name() == name
}

func isError(t types.Type) bool {
	return types.Identical(t, types.Universe.Lookup("error").Type())
}
