package shopcli_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/examples/ecommerce/shopcli"
)

// clientCalls reads the services' source and returns, for each callee, the
// services whose code calls it: call.New's service argument, the
// gateway's routes (tgw.Route's Service) and its dashboard's services
// list, and authn.NewVerifier, which fetches users' keys. A service
// argument this reader cannot resolve to a constant fails the test, so
// that a new way of calling cannot slip past it.
func clientCalls(t *testing.T) map[string][]string {
	t.Helper()
	authnConsts := consts(t, parseDir(t, "../internal/authn"))
	calls := map[string]map[string]bool{}
	for _, caller := range shopcli.Services {
		files := parseDir(t, "../"+caller)
		local := consts(t, files)
		resolve := func(e ast.Expr) string {
			switch e := e.(type) {
			case *ast.BasicLit:
				if v, err := strconv.Unquote(e.Value); err == nil {
					return v
				}
			case *ast.Ident:
				return local[e.Name]
			case *ast.SelectorExpr:
				if x, ok := e.X.(*ast.Ident); ok && x.Name == "authn" {
					return authnConsts[e.Sel.Name]
				}
			}
			return ""
		}
		add := func(pos token.Pos, e ast.Expr, fset *token.FileSet) {
			callee := resolve(e)
			if !slices.Contains(shopcli.Services, callee) {
				t.Errorf("%s: a call to a service this test cannot name (%T)", fset.Position(pos), e)
				return
			}
			if calls[callee] == nil {
				calls[callee] = map[string]bool{}
			}
			calls[callee][caller] = true
		}
		for _, f := range files {
			ast.Inspect(f.file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					switch selector(n.Fun) {
					case "call.New":
						if len(n.Args) > 2 {
							add(n.Pos(), n.Args[2], f.fset)
						}
					case "authn.NewVerifier":
						add(n.Pos(), &ast.SelectorExpr{X: ast.NewIdent("authn"), Sel: ast.NewIdent("UsersService")}, f.fset)
					}
				case *ast.CompositeLit:
					// A route, alone or in a []Route whose elements leave
					// their type out.
					var routes []ast.Expr
					if strings.HasSuffix(selector(n.Type), ".Route") {
						routes = []ast.Expr{n}
					} else if at, ok := n.Type.(*ast.ArrayType); ok && strings.HasSuffix(selector(at.Elt), ".Route") {
						routes = n.Elts
					}
					for _, r := range routes {
						lit, ok := r.(*ast.CompositeLit)
						if !ok {
							continue
						}
						for _, el := range lit.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok && selector(kv.Key) == "Service" {
								add(kv.Pos(), kv.Value, f.fset)
							}
						}
					}
				case *ast.KeyValueExpr:
					// The dashboard's list of the services it watches and probes.
					if selector(n.Key) == "services" {
						if list, ok := n.Value.(*ast.CompositeLit); ok {
							for _, el := range list.Elts {
								add(el.Pos(), el, f.fset)
							}
						}
					}
				}
				return true
			})
		}
	}
	out := map[string][]string{}
	for callee, callers := range calls {
		out[callee] = slices.Sorted(maps.Keys(callers))
	}
	return out
}

type parsedFile struct {
	file *ast.File
	fset *token.FileSet
}

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) []parsedFile {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var out []parsedFile
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parsedFile{f, fset})
	}
	return out
}

// consts returns the package-level string constants of files.
func consts(t *testing.T, files []parsedFile) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.file.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							out[name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	return out
}

// selector returns "x.Sel" for a selector expression and the name for an
// identifier.
func selector(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name + "." + e.Sel.Name
		}
	case *ast.Ident:
		return e.Name
	}
	return ""
}

// Callers, derived from the access policies, are the calls the clients'
// code makes: every call is admitted and every admission is used.
func TestCallersAreTheClientsCalls(t *testing.T) {
	got := clientCalls(t)
	if want := shopcli.Callers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the clients call %v; the access policies admit %v", got, want)
	}
}
