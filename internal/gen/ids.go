package gen

import (
	"fmt"
	"go/types"
	"hash/fnv"
	"strings"

	"github.com/plexus-ipc/plexus"
)

// checkIDs rejects services whose method IDs collide: two services with
// the same 32-bit service half (a server could not tell them apart) or two
// methods with the same 64-bit ID. The session's Mux would refuse them at
// registration; the generator says so first, naming both.
func checkIDs(svcs []*service) error {
	bySvc := map[uint32]string{}
	byID := map[uint64]string{}
	for _, s := range svcs {
		h := plexus.ServiceOf(plexus.MethodID(s.wire, ""))
		if prev, ok := bySvc[h]; ok {
			if prev == s.wire {
				return fmt.Errorf("gen: two services are served as %q; give one another name with //plexus:service name=", s.wire)
			}
			return fmt.Errorf("gen: services %q and %q have the same 32-bit service hash %#08x; rename one (//plexus:service name=)", prev, s.wire, h)
		}
		bySvc[h] = s.wire
		for _, m := range s.methods {
			id := plexus.MethodID(s.wire, m.name)
			full := s.wire + "." + m.name
			if prev, ok := byID[id]; ok {
				return fmt.Errorf("gen: methods %s and %s have the same method ID %#016x; rename one", prev, full, id)
			}
			byID[id] = full
		}
	}
	return nil
}

// signature is the canonical text of a method's signature, which its
// hash is taken of (see doc.go): the version of this definition, the kind,
// then each list of types in canonical form.
func signature(m *method) string {
	var b strings.Builder
	b.WriteString("plexus.sig.v1 ")
	b.WriteString(kindNames[m.kind])
	list := func(label string, ts []types.Type) {
		b.WriteString(" " + label + "(")
		for i, t := range ts {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(canonical(t))
		}
		b.WriteString(")")
	}
	list("args", m.params)
	list("results", m.results)
	if m.up != nil {
		list("up", []types.Type{m.up})
	}
	if m.down != nil {
		list("down", []types.Type{m.down})
	}
	return b.String()
}

// signatureHash is the 64-bit FNV-1a hash of signature(m).
func signatureHash(m *method) uint64 {
	h := fnv.New64a()
	h.Write([]byte(signature(m)))
	return h.Sum64()
}

// canonical writes a type with every named type qualified by its full
// import path; a msgp type is followed by its underlying type (a struct's
// field names, types and tags), since a change there changes the bytes.
func canonical(t types.Type) string {
	if isLease(t) {
		return "lease"
	}
	qual := func(p *types.Package) string { return p.Path() }
	sh, _ := shapeOf(t)
	switch sh {
	case shSlice:
		if n, ok := t.(*types.Named); ok {
			return types.TypeString(n, qual) + "=[]" + canonical(t.Underlying().(*types.Slice).Elem())
		}
		return "[]" + canonical(t.(*types.Slice).Elem())
	case shMap:
		m := t.Underlying().(*types.Map)
		s := "map[" + canonical(m.Key()) + "]" + canonical(m.Elem())
		if n, ok := t.(*types.Named); ok {
			return types.TypeString(n, qual) + "=" + s
		}
		return s
	case shPtr:
		e := t.Underlying().(*types.Pointer).Elem()
		if n, ok := t.(*types.Named); ok {
			return types.TypeString(n, qual) + "=*" + canonical(e)
		}
		return "*" + canonical(e)
	case shMsg:
		return types.TypeString(t, qual) + "=" + types.TypeString(t.Underlying(), qual)
	case shBasic, shBytes:
		if n, ok := t.(*types.Named); ok {
			return types.TypeString(n, qual) + "=" + types.TypeString(t.Underlying(), qual)
		}
	}
	return types.TypeString(t, qual)
}
