package gen

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"strings"
)

// OutputSuffix ends the name of the file Generate's output goes to; files
// with it are left out when the package is read, so that a stale output
// never stops the generator from replacing it.
const OutputSuffix = "_plexus.go"

// service is one interface to generate code for.
type service struct {
	name    string // Go name of the interface
	wire    string // name it is served under
	iface   *types.Interface
	methods []*method
}

type method struct {
	name    string
	params  []*types.Var // without the context
	results []*types.Var // without the error
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
	fset := token.NewFileSet()
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
	conf := types.Config{
		Importer: importer.ForCompiler(fset, "source", nil),
		Error:    func(error) {},
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	pkg, _ := conf.Check(bp.ImportPath, fset, files, info)
	if pkg == nil {
		return nil, nil, fmt.Errorf("gen: type-checking %s failed", dir)
	}
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
				wire, ok := directive(doc)
				if !ok {
					continue
				}
				if wire == "" {
					wire = pkg.Name() + "." + ts.Name.Name
				}
				svc, err := newService(fset, pkg, ts.Name.Name, wire)
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
	return pkg, svcs, nil
}

// directive finds "//plexus:service [name=X]" in a doc comment.
func directive(doc *ast.CommentGroup) (name string, ok bool) {
	if doc == nil {
		return "", false
	}
	for _, c := range doc.List {
		rest, found := strings.CutPrefix(c.Text, "//plexus:service")
		if !found || (rest != "" && rest[0] != ' ') {
			continue
		}
		for _, f := range strings.Fields(rest) {
			if v, ok := strings.CutPrefix(f, "name="); ok {
				name = v
			}
		}
		return name, true
	}
	return "", false
}

func newService(fset *token.FileSet, pkg *types.Package, name, wire string) (*service, error) {
	obj := pkg.Scope().Lookup(name)
	iface, ok := obj.Type().Underlying().(*types.Interface)
	if !ok {
		return nil, fmt.Errorf("gen: %s: %s is marked //plexus:service but is not an interface", fset.Position(obj.Pos()), name)
	}
	svc := &service{name: name, wire: wire, iface: iface}
	for i := range iface.NumMethods() {
		fn := iface.Method(i)
		m, err := newMethod(fn)
		if err != nil {
			return nil, fmt.Errorf("gen: %s: %s.%s: %w", fset.Position(fn.Pos()), name, fn.Name(), err)
		}
		svc.methods = append(svc.methods, m)
	}
	if len(svc.methods) == 0 {
		return nil, fmt.Errorf("gen: %s: service %s has no methods", fset.Position(obj.Pos()), name)
	}
	return svc, nil
}

func newMethod(fn *types.Func) (*method, error) {
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
	m := &method{name: fn.Name()}
	for i := 1; i < ps.Len(); i++ {
		if err := supported(ps.At(i).Type()); err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i, err)
		}
		m.params = append(m.params, ps.At(i))
	}
	for i := 0; i < rs.Len()-1; i++ {
		if err := supported(rs.At(i).Type()); err != nil {
			return nil, fmt.Errorf("result %d: %w", i, err)
		}
		m.results = append(m.results, rs.At(i))
	}
	return m, nil
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
