package gen

import (
	"fmt"
	"go/types"
)

// shape is how the codec handles a Go type.
type shape int

const (
	shBasic    shape = iota + 1 // bool, integers, floats, string (maybe named)
	shBytes                     // []byte (maybe named)
	shTime                      // time.Time
	shDuration                  // time.Duration
	shMsg                       // a type whose pointer has msgp's methods
	shSlice
	shMap
	shPtr
)

// basicSuffix names the codec function of each basic kind:
// codec.Append<S>, Decoder.<S>.
var basicSuffix = map[types.BasicKind]string{
	types.Bool: "Bool", types.Int: "Int", types.Int8: "Int8", types.Int16: "Int16",
	types.Int32: "Int32", types.Int64: "Int64", types.Uint: "Uint", types.Uint8: "Uint8",
	types.Uint16: "Uint16", types.Uint32: "Uint32", types.Uint64: "Uint64",
	types.Float32: "Float32", types.Float64: "Float64", types.String: "String",
}

// sessionPath is the package of session.Lease.
const sessionPath = "github.com/plexus-ipc/plexus/session"

// isLease reports whether t is *session.Lease, which crosses as a whole
// message of its own (see doc.go, "Leases").
func isLease(t types.Type) bool {
	p, ok := t.(*types.Pointer)
	return ok && isNamed(p.Elem(), sessionPath, "Lease")
}

const leaseInside = "a lease crosses as a whole message: it cannot be inside a slice, map, pointer or struct"

// shapeOf says how the codec handles t, or why it cannot. The types the
// codec knows by name come first: a named type's underlying type would
// hide what it is (a time.Time is a struct, a msgp type anything).
func shapeOf(t types.Type) (shape, error) {
	switch {
	case isLease(t):
		// Reached only inside another type: a lease as a whole argument,
		// result or stream message is handled before the codec's types.
		return 0, fmt.Errorf("type %s: %s", short(t), leaseInside)
	case isNamed(t, sessionPath, "Lease"):
		// A Lease's pointer has msgp's methods; it must not be mistaken for
		// a msgp type.
		return 0, fmt.Errorf("type %s: a lease is passed as *session.Lease", short(t))
	case isNamed(t, "time", "Time"):
		return shTime, nil
	case isNamed(t, "time", "Duration"):
		return shDuration, nil
	case isMsg(t):
		return shMsg, nil
	}
	sh, why := underlyingShape(t)
	if sh == 0 {
		return 0, fmt.Errorf("type %s %s", short(t), why)
	}
	return sh, nil
}

// holdsBytes reports whether values of t contain []byte values that the
// tuple's decoder reads with Bytes (directly, or in slices, maps and
// pointers of them): those a view can alias. A msgp type decodes itself.
func holdsBytes(t types.Type) bool {
	switch sh, _ := shapeOf(t); sh {
	case shBytes:
		return true
	case shSlice:
		return holdsBytes(t.Underlying().(*types.Slice).Elem())
	case shMap:
		m := t.Underlying().(*types.Map)
		return holdsBytes(m.Key()) || holdsBytes(m.Elem())
	case shPtr:
		return holdsBytes(t.Underlying().(*types.Pointer).Elem())
	}
	return false
}

// notSupported is why a type fails when there is nothing more to say.
const notSupported = "is not supported by the codec"

// underlyingShape is shapeOf by t's underlying type, for the types not
// known by name: the shape, or 0 and why the codec cannot handle t.
func underlyingShape(t types.Type) (shape, string) {
	switch u := t.Underlying().(type) {
	case *types.Basic:
		return basicShape(u)
	case *types.Slice:
		if types.Identical(u.Elem(), types.Typ[types.Byte]) {
			return shBytes, ""
		}
		return shSlice, ""
	case *types.Map:
		return shMap, ""
	case *types.Pointer:
		return shPtr, ""
	case *types.Array:
		return 0, notSupported + " (use a slice)"
	case *types.Chan, *types.Signature:
		return 0, "cannot cross the link"
	case *types.Interface:
		return 0, notSupported + " (an interface does not say which type to decode)"
	case *types.Struct:
		return 0, structWhy(t)
	}
	return 0, notSupported
}

// basicShape is the shape of a basic type u, or 0 and why not.
func basicShape(u *types.Basic) (shape, string) {
	if _, ok := basicSuffix[u.Kind()]; ok {
		return shBasic, ""
	}
	switch {
	case u.Info()&types.IsComplex != 0:
		return 0, notSupported + " (complex numbers have no MessagePack form)"
	case u.Kind() == types.Uintptr || u.Kind() == types.UnsafePointer:
		return 0, "cannot cross the link (an address means nothing in another process)"
	}
	return 0, notSupported
}

// structWhy says why the struct type t is refused: the codec encodes a
// struct only through the msgp methods of a named one.
func structWhy(t types.Type) string {
	if _, named := t.(*types.Named); named {
		return notSupported + ": *" + short(t) + " does not have msgp's MarshalMsg, UnmarshalMsg and Msgsize (run msgp on the file that declares it)"
	}
	return notSupported + " (give the struct a name and run msgp on it)"
}

// short writes t for messages, with package names rather than paths.
func short(t types.Type) string {
	return types.TypeString(t, func(p *types.Package) string { return p.Name() })
}

// supported checks t and every type inside it.
func supported(t types.Type) error {
	sh, err := shapeOf(t)
	if err != nil {
		return err
	}
	switch sh {
	case shSlice:
		return supported(t.Underlying().(*types.Slice).Elem())
	case shMap:
		m := t.Underlying().(*types.Map)
		if err := supported(m.Key()); err != nil {
			return err
		}
		return supported(m.Elem())
	case shPtr:
		return supported(t.Underlying().(*types.Pointer).Elem())
	}
	return nil
}

// isMsg reports whether *t has MarshalMsg, UnmarshalMsg and Msgsize with
// msgp's signatures.
func isMsg(t types.Type) bool {
	if _, ok := t.(*types.Named); !ok {
		return false
	}
	ms := types.NewMethodSet(types.NewPointer(t))
	has := func(name string, params, results int) bool {
		sel := ms.Lookup(nil, name) // exported names need no package
		if sel == nil {
			return false
		}
		sig := sel.Obj().Type().(*types.Signature)
		return sig.Params().Len() == params && sig.Results().Len() == results
	}
	return has("MarshalMsg", 1, 2) && has("UnmarshalMsg", 1, 2) && has("Msgsize", 0, 1)
}

// coder writes the codec expressions for types, qualifying names against
// the generated file's package and recording the imports it needs.
type coder struct {
	pkg     *types.Package
	imports map[string]string // path -> name
	after   []string          // declarations to write after the current function
}

func (c *coder) qual(p *types.Package) string {
	if p == c.pkg {
		return ""
	}
	c.imports[p.Path()] = p.Name()
	return p.Name()
}

func (c *coder) typ(t types.Type) string { return types.TypeString(t, c.qual) }

func basicOf(t types.Type) (suffix string, named bool) {
	b := t.Underlying().(*types.Basic)
	return basicSuffix[b.Kind()], !types.Identical(t, types.Typ[b.Kind()])
}

// enc is an expression that appends the encoding of x (addressable) to b.
func (c *coder) enc(t types.Type, x string) string {
	sh, _ := shapeOf(t)
	switch sh {
	case shBasic:
		s, named := basicOf(t)
		if named {
			x = fmt.Sprintf("%s(%s)", c.typ(t.Underlying()), x)
		}
		return fmt.Sprintf("codec.Append%s(b, %s)", s, x)
	case shBytes:
		if !types.Identical(t, t.Underlying()) {
			x = "[]byte(" + x + ")"
		}
		return fmt.Sprintf("codec.AppendBytes(b, %s)", x)
	case shTime:
		return fmt.Sprintf("codec.AppendTime(b, %s)", x)
	case shDuration:
		return fmt.Sprintf("codec.AppendDuration(b, %s)", x)
	case shMsg:
		return fmt.Sprintf("codec.AppendMsgErr(b, &%s, &err)", x)
	case shSlice:
		return fmt.Sprintf("codec.AppendSlice(b, %s, %s)", x, c.encFn(t.Underlying().(*types.Slice).Elem()))
	case shMap:
		m := t.Underlying().(*types.Map)
		return fmt.Sprintf("codec.AppendMap(b, %s, %s, %s)", x, c.encFn(m.Key()), c.encFn(m.Elem()))
	case shPtr:
		return fmt.Sprintf("codec.AppendPtr(b, %s, %s)", x, c.encFn(t.Underlying().(*types.Pointer).Elem()))
	}
	panic("unreachable")
}

// encFn is a func([]byte, T) []byte for elements of type t.
func (c *coder) encFn(t types.Type) string {
	sh, _ := shapeOf(t)
	plain := types.Identical(t, t.Underlying())
	switch {
	case sh == shBasic && plain:
		s, _ := basicOf(t)
		return "codec.Append" + s
	case sh == shBytes && plain:
		return "codec.AppendBytes"
	case sh == shTime:
		return "codec.AppendTime"
	case sh == shDuration:
		return "codec.AppendDuration"
	}
	return fmt.Sprintf("func(b []byte, v %s) []byte { return %s }", c.typ(t), c.enc(t, "v"))
}

// size is an int expression bounding the encoding of x.
func (c *coder) size(t types.Type, x string) string {
	sh, _ := shapeOf(t)
	switch sh {
	case shBasic:
		s, named := basicOf(t)
		switch s {
		case "Bool":
			return "codec.SizeBool"
		case "Float32", "Float64":
			return "codec.Size" + s
		case "String":
			if named {
				x = "string(" + x + ")"
			}
			return fmt.Sprintf("codec.SizeString(%s)", x)
		}
		return "codec.SizeInt"
	case shBytes:
		if !types.Identical(t, t.Underlying()) {
			x = "[]byte(" + x + ")"
		}
		return fmt.Sprintf("codec.SizeBytes(%s)", x)
	case shTime:
		return "codec.SizeTime"
	case shDuration:
		return "codec.SizeDuration"
	case shMsg:
		return x + ".Msgsize()"
	case shSlice:
		e := t.Underlying().(*types.Slice).Elem()
		if fixed := c.fixedSize(e); fixed != "" {
			return fmt.Sprintf("(codec.SizeArrayHeader + len(%s)*%s)", x, fixed)
		}
		return fmt.Sprintf("codec.SizeSlice(%s, %s)", x, c.sizeFn(e))
	case shMap:
		m := t.Underlying().(*types.Map)
		return fmt.Sprintf("codec.SizeMap(%s, %s, %s)", x, c.sizeFn(m.Key()), c.sizeFn(m.Elem()))
	case shPtr:
		return fmt.Sprintf("codec.SizePtr(%s, %s)", x, c.sizeFn(t.Underlying().(*types.Pointer).Elem()))
	}
	panic("unreachable")
}

// fixedSize is the size constant of types whose bound does not depend on
// the value, or "".
func (c *coder) fixedSize(t types.Type) string {
	sh, _ := shapeOf(t)
	switch sh {
	case shBasic:
		if s, _ := basicOf(t); s != "String" {
			return c.size(t, "")
		}
	case shTime, shDuration:
		return c.size(t, "")
	}
	return ""
}

func (c *coder) sizeFn(t types.Type) string {
	if fixed := c.fixedSize(t); fixed != "" {
		return fmt.Sprintf("func(%s) int { return %s }", c.typ(t), fixed)
	}
	return fmt.Sprintf("func(v %s) int { return %s }", c.typ(t), c.size(t, "v"))
}

// decFn is a func(*codec.Decoder) (T, error) for values of type t.
func (c *coder) decFn(t types.Type) string {
	sh, _ := shapeOf(t)
	plain := types.Identical(t, t.Underlying())
	T := c.typ(t)
	wrap := func(call string) string {
		if plain {
			return fmt.Sprintf("func(d *codec.Decoder) (%s, error) { return %s }", T, call)
		}
		return fmt.Sprintf("func(d *codec.Decoder) (%s, error) { v, err := %s; return %s(v), err }", T, call, T)
	}
	switch sh {
	case shBasic:
		s, _ := basicOf(t)
		if plain {
			return "(*codec.Decoder)." + s
		}
		return wrap("d." + s + "()")
	case shBytes:
		if plain {
			return "(*codec.Decoder).Bytes"
		}
		return wrap("d.Bytes()")
	case shTime:
		return "(*codec.Decoder).Time"
	case shDuration:
		return "(*codec.Decoder).Duration"
	case shMsg:
		return fmt.Sprintf("func(d *codec.Decoder) (v %s, err error) { err = d.ReadMsg(&v); return v, err }", T)
	}
	return wrap(c.decCall(t))
}

// decCall is an expression of type (U, error) decoding a slice, map or
// pointer type t, where U is t's underlying type.
func (c *coder) decCall(t types.Type) string {
	switch u := t.Underlying().(type) {
	case *types.Slice:
		return fmt.Sprintf("codec.ReadSlice(d, %s)", c.decFn(u.Elem()))
	case *types.Map:
		return fmt.Sprintf("codec.ReadMap(d, %s, %s)", c.decFn(u.Key()), c.decFn(u.Elem()))
	case *types.Pointer:
		return fmt.Sprintf("codec.ReadPtr(d, %s)", c.decFn(u.Elem()))
	}
	panic("unreachable")
}

// dec is a statement that decodes into x, returning err on failure.
func (c *coder) dec(t types.Type, x string) string {
	sh, _ := shapeOf(t)
	plain := types.Identical(t, t.Underlying())
	var call string
	switch {
	case sh == shMsg:
		return fmt.Sprintf("if err = d.ReadMsg(&%s); err != nil {\nreturn err\n}", x)
	case (sh == shSlice || sh == shMap || sh == shPtr) && plain:
		call = c.decCall(t)
	case sh == shBasic && plain:
		s, _ := basicOf(t)
		call = "d." + s + "()"
	case sh == shBytes && plain:
		call = "d.Bytes()"
	case sh == shTime:
		call = "d.Time()"
	case sh == shDuration:
		call = "d.Duration()"
	default:
		call = "(" + c.decFn(t) + ")(d)"
	}
	return fmt.Sprintf("if %s, err = %s; err != nil {\nreturn err\n}", x, call)
}
