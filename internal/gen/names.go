package gen

import (
	"fmt"
	"go/types"
)

// exportedNames are the package-level identifiers the generated file
// declares for s and that a package could plausibly declare itself (the
// unexported ones start with the service's name in lower case or with
// "plexus", which doc.go reserves).
func exportedNames(s *service) []string {
	names := []string{
		s.name + "Service", s.name + "ServiceDesc", s.name + "Client",
		"New" + s.name + "Client", "New" + s.name + "Service", "Register" + s.name,
	}
	for _, m := range s.methods {
		if m.kind != kUnary && m.kind != kNotification {
			names = append(names, s.name+"_"+m.name+"Client")
		}
	}
	return names
}

// checkNames rejects a package whose own declarations, or whose services
// among themselves, would collide with the generated identifiers: the
// generated file would not compile, and the compiler's "redeclared" would
// point at generated code. This matters most for identifiers the generator
// started to write later (NewXService), which code written before may
// declare itself.
func (l *loader) checkNames(svcs []*service) error {
	owner := map[string]string{}
	for _, s := range svcs {
		for _, n := range exportedNames(s) {
			if prev, ok := owner[n]; ok {
				return fmt.Errorf("gen: services %s and %s would both declare %s; rename one", prev, s.name, n)
			}
			owner[n] = s.name
			obj := l.pkg.Scope().Lookup(n)
			if obj == nil {
				continue
			}
			return fmt.Errorf("gen: %s: %s %s collides with the generated %s of service %s; rename it (or the service)",
				l.fset.Position(obj.Pos()), objKind(obj), n, n, s.name)
		}
	}
	return nil
}

func objKind(obj types.Object) string {
	switch obj.(type) {
	case *types.Func:
		return "func"
	case *types.TypeName:
		return "type"
	case *types.Const:
		return "const"
	case *types.Var:
		return "var"
	}
	return "identifier"
}
