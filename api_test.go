package switchyard_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// libraryPackages parses the library's non-test Go files — everything in
// the module but internal/, examples/, bench/ and testdata — by package
// directory.
func libraryPackages(t *testing.T) (map[string][]*ast.File, *token.FileSet) {
	t.Helper()
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "internal", "examples", "bench", "testdata", ".git", ".ci":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkgs[filepath.Dir(path)] = append(pkgs[filepath.Dir(path)], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs, fset
}

// internalImports maps the names under which f imports an internal/
// package to the import path.
func internalImports(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if !strings.Contains(p, "/internal/") && !strings.HasSuffix(p, "/internal") {
			continue
		}
		name := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			name = imp.Name.Name
		}
		out[name] = p
	}
	return out
}

// mentions reports the internal packages that the type expression e names.
func mentions(e ast.Node, internal map[string]string) []string {
	var found []string
	ast.Inspect(e, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				if p, ok := internal[id.Name]; ok {
					found = append(found, p+"."+sel.Sel.Name)
				}
			}
		}
		return true
	})
	return found
}

// TestNoInternalTypeInThePublicAPI: users cannot import internal/, so no
// exported function, method, type, field or variable of the library may
// mention one of its types.
func TestNoInternalTypeInThePublicAPI(t *testing.T) {
	pkgs, fset := libraryPackages(t)
	var problems []string
	report := func(pos token.Pos, what string, found []string) {
		for _, f := range found {
			problems = append(problems, fmt.Sprintf("%s: %s mentions %s", fset.Position(pos), what, f))
		}
	}
	for _, files := range pkgs {
		for _, f := range files {
			internal := internalImports(f)
			if len(internal) == 0 {
				continue
			}
			for _, decl := range f.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() || (d.Recv != nil && !exportedRecv(d.Recv)) {
						continue
					}
					report(d.Pos(), "func "+d.Name.Name, mentions(d.Type, internal))
				case *ast.GenDecl:
					for _, spec := range d.Specs {
						switch s := spec.(type) {
						case *ast.TypeSpec:
							if s.Name.IsExported() {
								report(s.Pos(), "type "+s.Name.Name, exportedParts(s.Type, internal))
							}
						case *ast.ValueSpec:
							for _, n := range s.Names {
								if n.IsExported() && s.Type != nil {
									report(n.Pos(), n.Name, mentions(s.Type, internal))
								}
							}
						}
					}
				}
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// exportedParts is mentions for the parts of a type definition a user
// sees: exported fields and methods of structs and interfaces, or the
// whole type otherwise.
func exportedParts(e ast.Expr, internal map[string]string) []string {
	var fields *ast.FieldList
	switch x := e.(type) {
	case *ast.StructType:
		fields = x.Fields
	case *ast.InterfaceType:
		fields = x.Methods
	default:
		return mentions(e, internal)
	}
	var found []string
	for _, fl := range fields.List {
		exported := len(fl.Names) == 0 // an embedded type is part of the API
		for _, n := range fl.Names {
			exported = exported || n.IsExported()
		}
		if exported {
			found = append(found, mentions(fl.Type, internal)...)
		}
	}
	return found
}

func exportedRecv(recv *ast.FieldList) bool {
	if len(recv.List) == 0 {
		return false
	}
	e := recv.List[0].Type
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if ix, ok := e.(*ast.IndexExpr); ok {
		e = ix.X
	}
	if ix, ok := e.(*ast.IndexListExpr); ok {
		e = ix.X
	}
	id, ok := e.(*ast.Ident)
	return ok && id.IsExported()
}

// TestAPISurface logs the size of each package's public API: exported
// top-level identifiers and exported methods of exported types. It fails
// only if the tree cannot be parsed; the counts are for the record
// (go test -run TestAPISurface -v .).
func TestAPISurface(t *testing.T) {
	pkgs, _ := libraryPackages(t)
	var dirs []string
	for d := range pkgs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	total := 0
	for _, dir := range dirs {
		n := 0
		for _, f := range pkgs[dir] {
			for _, decl := range f.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					if d.Name.IsExported() && (d.Recv == nil || exportedRecv(d.Recv)) {
						n++
					}
				case *ast.GenDecl:
					for _, spec := range d.Specs {
						switch s := spec.(type) {
						case *ast.TypeSpec:
							if s.Name.IsExported() {
								n++
							}
						case *ast.ValueSpec:
							for _, name := range s.Names {
								if name.IsExported() {
									n++
								}
							}
						}
					}
				}
			}
		}
		total += n
		t.Logf("%-32s %4d", dir, n)
	}
	t.Logf("%-32s %4d", "total", total)
}
