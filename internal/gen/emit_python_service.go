package gen

import (
	"bytes"
	"fmt"
	"go/types"
	"strings"

	"github.com/plexus-ipc/plexus"
)

func methodID(s *service, m *method) uint64 { return plexus.MethodID(s.wire, m.name) }

// goSig is the Go signature of s's method m, for parameter names.
func (py *pyCoder) goSig(s *service, m *method) *types.Signature {
	iface := py.pkg.Scope().Lookup(s.name).Type().Underlying().(*types.Interface)
	for i := range iface.NumMethods() {
		if fn := iface.Method(i); fn.Name() == m.name {
			return fn.Type().(*types.Signature)
		}
	}
	panic("method " + m.name + " not found")
}

// service writes the specs, the base class and the client of s.
func (py *pyCoder) service(w *bytes.Buffer, s *service) error {
	upper := strings.ToUpper(s.name)
	fmt.Fprintf(w, "\n# ---- %s, served as %s\n\n%s_SERVICE = %s\n\n", s.name, s.wire, upper, pyStr(s.wire))
	fmt.Fprintf(w, "_%s_specs = _rt.bind(%s_SERVICE, [\n", s.name, upper)
	for _, m := range s.methods {
		if err := py.spec(w, s, m); err != nil {
			return err
		}
	}
	w.WriteString("])\n")
	py.base(w, s)
	py.client(w, s)
	return nil
}

// shapeDoc says in words what a method takes and returns, for docstrings.
func (py *pyCoder) shapeDoc(m *method, names []string) string {
	var b strings.Builder
	b.WriteString(kindNames[m.kind] + "(")
	for i, t := range m.params {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", names[i], short(t))
	}
	b.WriteString(")")
	if len(m.results) > 0 {
		var rs []string
		for _, t := range m.results {
			rs = append(rs, short(t))
		}
		b.WriteString(" -> " + strings.Join(rs, ", "))
	}
	if m.up != nil {
		b.WriteString("; receives " + short(m.up))
	}
	if m.down != nil {
		b.WriteString("; sends " + short(m.down))
	}
	return b.String()
}

// base writes the class a plugin implements.
func (py *pyCoder) base(w *bytes.Buffer, s *service) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n\nclass %sBase:\n", s.name)
	p("    \"\"\"%s (%s): subclass it, override the methods you serve, and list\n", s.name, s.wire)
	p("    impl.plexus_service() in plexus.serve. Unary methods return their\n")
	p("    result (a tuple for several, None for none); stream handlers get recv\n")
	p("    (iterate it, or call it: EOFError at the end) and send(value); raise\n")
	p("    one of this module's error classes for an application error, or\n")
	p("    plexus.Status. []byte arguments are read-only memoryviews of shared\n")
	p("    memory, valid until the handler returns (received stream messages:\n")
	p("    copies, or views valid until the next recv with stream_views = True).\"\"\"\n\n")
	p("    stream_views = False\n")
	for _, m := range s.methods {
		names := pyParams(py.goSig(s, m), m)
		all := append([]string{"self"}, names...)
		if m.up != nil {
			all = append(all, "recv")
		}
		if m.down != nil {
			all = append(all, "send")
		}
		p("\n    @_rt.unimplemented\n    def %s(%s):\n", pyIdent(m.name), strings.Join(all, ", "))
		p("        \"\"\"%s\"\"\"\n", py.shapeDoc(m, names))
		p("        raise NotImplementedError\n")
	}
	p("\n    def plexus_service(self):\n")
	p("        \"\"\"The plexus.Service that serves this object.\"\"\"\n")
	p("        return _rt.service(self, %s_SERVICE, _%s_specs.values())\n", strings.ToUpper(s.name), s.name)
}

// client writes the class that calls the host's service.
func (py *pyCoder) client(w *bytes.Buffer, s *service) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n\nclass %sClient:\n", s.name)
	p("    \"\"\"Calls %s (%s) on the host (plexus.host(), or conn).\n", s.name, s.wire)
	p("    Unary methods return the results; a notification sends; a stream\n")
	p("    method returns a genrt.ClientStream (send, close_send, recv, iteration,\n")
	p("    close_and_recv for a client stream's results). Results are copies.\n")
	p("    A declared application error is raised as its class, any other\n")
	p("    failure as plexus.Status.\"\"\"\n\n")
	p("    def __init__(self, conn=None):\n        self._conn = conn\n")
	for _, m := range s.methods {
		names := pyParams(py.goSig(s, m), m)
		args := "(" + strings.Join(names, ", ")
		if len(names) == 1 {
			args += ","
		}
		args += ")"
		spec := fmt.Sprintf("_%s_specs[%s]", s.name, pyStr(m.name))
		sig := strings.Join(append([]string{"self"}, names...), ", ")
		p("\n    def %s(%s, ", pyIdent(m.name), sig)
		switch m.kind {
		case kUnary:
			p("timeout=None, metadata=None):\n        \"\"\"%s\"\"\"\n", py.shapeDoc(m, names))
			p("        return _rt.invoke(self._conn, _errors, %s, %s, timeout, metadata)\n", spec, args)
		case kNotification:
			p("metadata=None):\n        \"\"\"%s\"\"\"\n", py.shapeDoc(m, names))
			p("        _rt.notify(self._conn, %s, %s, metadata)\n", spec, args)
		default:
			p("timeout=None, metadata=None):\n        \"\"\"%s\"\"\"\n", py.shapeDoc(m, names))
			p("        return _rt.ClientStream(self._conn, _errors, %s, %s, timeout, metadata)\n", spec, args)
		}
	}
}
