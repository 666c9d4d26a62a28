package main

import (
	"bytes"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	recorderDir  = "internal/callpathrec"
	recorderPath = "github.com/plexus-ipc/plexus/" + recorderDir
)

// copyTree copies the module at root into dst, without .git.
func copyTree(root, dst string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// instrumentDir adds the recorder's Enter at the top of every function
// with a body in the package's non-test files.
func instrumentDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if err := instrumentFile(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

func instrumentFile(path string) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		return err
	}
	enter := func() ast.Stmt {
		return &ast.ExprStmt{X: &ast.CallExpr{Fun: &ast.SelectorExpr{X: ast.NewIdent("callpathrec"), Sel: ast.NewIdent("Enter")}}}
	}
	n := 0
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		fd.Body.List = append([]ast.Stmt{enter()}, fd.Body.List...)
		n++
	}
	if n == 0 {
		return nil
	}
	addImport(f)
	var buf bytes.Buffer
	if err := format.Node(&buf, fset, f); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writeRecorder writes the recorder package and the test that makes the
// measured call into the copy.
func writeRecorder(tmp string) error {
	dir := filepath.Join(tmp, recorderDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "rec.go"), []byte(recorderSrc), 0o644); err != nil {
		return err
	}
	test := strings.ReplaceAll(callTestSrc, "RECORDER", strconv.Quote(recorderPath))
	return os.WriteFile(filepath.Join(dir, "call_test.go"), []byte(test), 0o644)
}

// addImport adds the recorder's import to f (to its first import
// declaration, or a new one).
func addImport(f *ast.File) {
	spec := &ast.ImportSpec{Name: ast.NewIdent("callpathrec"), Path: &ast.BasicLit{Kind: token.STRING, Value: strconv.Quote(recorderPath)}}
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.IMPORT {
			if !gd.Lparen.IsValid() {
				gd.Lparen, gd.Rparen = gd.Pos(), gd.End()
			}
			gd.Specs = append(gd.Specs, spec)
			f.Imports = append(f.Imports, spec)
			return
		}
	}
	f.Decls = append([]ast.Decl{&ast.GenDecl{Tok: token.IMPORT, Specs: []ast.Spec{spec}}}, f.Decls...)
	f.Imports = append(f.Imports, spec)
}
