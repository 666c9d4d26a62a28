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
	// idempotent: marked //plexus:idempotent (a unary method only).
	idempotent bool
}

// viewResults reports whether m's client can receive its results as
// views (plexus.WithViews): a unary method whose results hold []byte
// values, decoded through the tuple (a lease is a view already).
func (m *method) viewResults() bool {
	if m.kind != kUnary || m.leaseResults {
		return false
	}
	for _, t := range m.results {
		if holdsBytes(t) {
			return true
		}
	}
	return false
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
// load reads the services of the package in dir; it fails if there is
// none.
func load(dir string) (*types.Package, []*service, error) {
	pkg, svcs, _, err := loadAll(dir)
	if err == nil && len(svcs) == 0 {
		err = fmt.Errorf("gen: no interface in %s is marked //plexus:service", dir)
	}
	return pkg, svcs, err
}

// loadAll reads the services and the typed topics of the package in dir;
// it fails if there are neither.
func loadAll(dir string) (*types.Package, []*service, []*topic, error) {
	pkg, svcs, tps, err := loadPackage(dir)
	if err == nil && len(svcs) == 0 && len(tps) == 0 {
		err = fmt.Errorf("gen: no interface in %s is marked //plexus:service, and no type //plexus:topic", dir)
	}
	return pkg, svcs, tps, err
}

func loadPackage(dir string) (*types.Package, []*service, []*topic, error) {
	bp, err := build.Default.ImportDir(dir, 0)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("gen: reading %s: %w", dir, err)
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.imp == nil {
		shared.fset = token.NewFileSet()
		shared.imp = importer.ForCompiler(shared.fset, "source", nil)
	}
	fset := shared.fset
	files, err := parseFiles(fset, dir, bp.GoFiles)
	if err != nil {
		return nil, nil, nil, err
	}
	path, err := importPath(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	conf := types.Config{Importer: shared.imp, Error: func(error) {}}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	pkg, _ := conf.Check(path, fset, files, info)
	if pkg == nil {
		return nil, nil, nil, fmt.Errorf("gen: type-checking %s failed", dir)
	}
	l := &loader{fset: fset, pkg: pkg}
	svcs, err := l.services(files)
	if err != nil {
		return nil, nil, nil, err
	}
	tps, err := l.topics(files)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkIDs(svcs); err != nil {
		return nil, nil, nil, err
	}
	if err := l.checkNames(svcs); err != nil {
		return nil, nil, nil, err
	}
	return pkg, svcs, tps, nil
}

// parseFiles parses the named Go files of dir, with their comments (the
// directives are comments), leaving out the generator's own output.
func parseFiles(fset *token.FileSet, dir string, names []string) ([]*ast.File, error) {
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, OutputSuffix) {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("gen: %w", err)
		}
		files = append(files, f)
	}
	return files, nil
}

// services returns the services that files declare, in the order of the
// files and of the declarations in each.
func (l *loader) services(files []*ast.File) ([]*service, error) {
	return eachTypeSpec(files, l.serviceOf)
}

// eachTypeSpec calls of for every type declaration of files, in order,
// and returns what it made of them (nil: nothing).
func eachTypeSpec[T any](files []*ast.File, of func(*ast.File, *ast.GenDecl, *ast.TypeSpec) (*T, error)) ([]*T, error) {
	var out []*T
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				v, err := of(f, gd, spec.(*ast.TypeSpec))
				if err != nil {
					return nil, err
				}
				if v != nil {
					out = append(out, v)
				}
			}
		}
	}
	return out, nil
}

// serviceOf returns the service that ts, declared by gd in f, is marked
// as, or nil when it is not marked //plexus:service. The doc comment of
// a lone type in a declaration is the declaration's.
func (l *loader) serviceOf(f *ast.File, gd *ast.GenDecl, ts *ast.TypeSpec) (*service, error) {
	doc := ts.Doc
	if doc == nil && len(gd.Specs) == 1 {
		doc = gd.Doc
	}
	ds, err := l.directives(doc, ts.Name.Name, true)
	if err != nil || !ds.service {
		return nil, err
	}
	wire := ds.name
	if wire == "" {
		wire = l.pkg.Name() + "." + ts.Name.Name
	}
	return l.newService(f, ts, wire, ds)
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
		if mds.idem && m.kind != kUnary {
			return nil, fmt.Errorf("%s: //plexus:idempotent marks a unary method: a stream or a notification is not retried", where)
		}
		m.idempotent = mds.idem
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
