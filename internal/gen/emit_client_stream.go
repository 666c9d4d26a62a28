package gen

import (
	"bytes"
	"fmt"
	"strings"
)

// The caller's side of a streaming method, by part: clientStream (in
// emit.go) writes the stream interface, its implementation, Open<Method>
// and the service method that drives the stream.

// streamClient writes the caller's side of one streaming method: the
// stream interface and its implementation, Open<Method>, and the method
// that drives the stream with the funcs it is given.
type streamClient struct {
	c         *coder
	w         *bytes.Buffer
	s         *service
	m         *method
	n         names
	ifaceName string   // the stream interface's name
	implName  string   // its implementation's
	up        string   // the type the caller sends ("" if none)
	down      string   // the type it receives ("" if none)
	rtypes    []string // the results (client streaming)
	results   string   // the result list of CloseAndRecv
}

func (c *coder) newStreamClient(w *bytes.Buffer, s *service, m *method) *streamClient {
	n := namesOf(s, m)
	cs := &streamClient{c: c, w: w, s: s, m: m, n: n,
		ifaceName: s.name + "_" + m.name + "Client", implName: n.base + "_client"}
	if m.up != nil {
		cs.up = c.typ(m.up)
	}
	if m.down != nil {
		cs.down = c.typ(m.down)
	}
	for _, t := range m.results {
		cs.rtypes = append(cs.rtypes, c.typ(t))
	}
	cs.results = strings.Join(append(cs.rtypes, "error"), ", ")
	if len(cs.rtypes) > 0 {
		cs.results = "(" + cs.results + ")"
	}
	return cs
}

func (cs *streamClient) p(format string, args ...any) { fmt.Fprintf(cs.w, format, args...) }

// iface writes the stream interface the caller holds.
func (cs *streamClient) iface() {
	m, p := cs.m, cs.p
	p("\n// %s is the caller's side of a call of %s.\n", cs.ifaceName, cs.n.full)
	p("type %s interface {\n", cs.ifaceName)
	if m.up != nil {
		p("\t// Send sends one message to the handler. It returns io.EOF if the\n")
		p("\t// handler has already returned; the call's outcome then comes from\n")
		if m.kind == kClientStream {
			p("\t// CloseAndRecv.\n")
		} else {
			p("\t// Recv.\n")
		}
		if isLease(m.up) {
			p("\t// The lease is taken over and released, as by the client's methods.\n")
		}
		p("\tSend(%s) error\n", cs.up)
	}
	if m.kind == kClientStream {
		p("\t// CloseAndRecv ends the messages and waits for the handler's results.\n")
		p("\tCloseAndRecv() %s\n", cs.results)
	}
	if m.kind == kBidiStream {
		p("\t// CloseSend ends the messages; the handler's receive then returns io.EOF.\n")
		p("\tCloseSend() error\n")
	}
	if m.down != nil {
		p("\t// Recv returns the next message the handler sent, io.EOF once the\n")
		p("\t// handler has returned nil, or the call's error.\n")
		if isLease(m.down) {
			p("\t// A lease is a view of the received bytes: Release it.\n")
		}
		p("\tRecv() (%s, error)\n", cs.down)
	}
	p("\t// Close abandons the call and cancels the handler's context; it is a\n")
	p("\t// no-op once the call has ended.\n")
	p("\tClose()\n}\n")
}

// impl writes the stream interface's implementation.
func (cs *streamClient) impl() {
	m, n, p, impl := cs.m, cs.n, cs.p, cs.implName
	p("\ntype %s struct {\n\tst *session.Stream\n", impl)
	if m.up != nil && !isLease(m.up) {
		p("\tup %s_up\n", n.base)
	}
	if m.down != nil && !isLease(m.down) {
		p("\tdown genrt.Inbox[%s_down, *%s_down]\n", n.base, n.base)
	}
	if m.kind == kClientStream {
		p("\tres genrt.Inbox[%s_results, *%s_results]\n", n.base, n.base)
	}
	p("}\n")
	if m.up != nil {
		cs.implSend()
	}
	if m.kind == kClientStream {
		cs.implCloseAndRecv()
	}
	if m.kind == kBidiStream {
		p("\nfunc (s *%s) CloseSend() error { return s.st.CloseSend() }\n", impl)
	}
	if m.down != nil {
		cs.implRecv()
	}
	p("\nfunc (s *%s) Close() { s.st.Close() }\n", impl)
}

func (cs *streamClient) implSend() {
	n, p := cs.n, cs.p
	p("\nfunc (s *%s) Send(v %s) error {\n", cs.implName, cs.up)
	if isLease(cs.m.up) {
		p("\tif v == nil {\n\t\treturn plexus.Errorf(plexus.InvalidArgument, %q)\n\t}\n", n.full+": nil *session.Lease")
		p("\terr := s.st.Send(v)\n\tv.Release() // a no-op once sent; frees it if sending failed first\n")
	} else {
		p("\ts.up.v0 = v\n\terr := s.st.Send(&s.up)\n\ts.up = %s_up{}\n", n.base)
	}
	p("\tif err != nil && err != io.EOF {\n\t\terr = codec.DecodeError(err)\n\t}\n\treturn err\n}\n")
}

func (cs *streamClient) implCloseAndRecv() {
	n, p, rtypes := cs.n, cs.p, cs.rtypes
	ret := cs.c.retPrefix(len(rtypes))
	p("\nfunc (s *%s) CloseAndRecv() (", cs.implName)
	for i, t := range rtypes {
		p("r%d %s, ", i, t)
	}
	p("err error) {\n")
	p("\tif err = s.st.CloseSend(); err != nil {\n\t\ts.st.Close()\n\t\treturn %scodec.DecodeError(err)\n\t}\n", ret)
	p("\tif err = genrt.RecvCaller(s.st, &s.res, %q); err != nil {\n", n.full)
	p("\t\tif err == io.EOF {\n\t\t\terr = plexus.Errorf(plexus.Internal, %q)\n\t\t}\n\t\treturn %serr\n\t}\n", n.full+": the handler returned no results", ret)
	p("\tif err = s.st.Recv(nil); err != io.EOF {\n")
	p("\t\tif err == nil {\n\t\t\ts.st.Close()\n\t\t\terr = plexus.Errorf(plexus.Internal, %q)\n\t\t}\n", n.full+": more than one message of results")
	p("\t\treturn %scodec.DecodeError(err)\n\t}\n", ret)
	p("\treturn ")
	for i := range rtypes {
		p("s.res.M.r%d, ", i)
	}
	p("nil\n}\n")
}

func (cs *streamClient) implRecv() {
	p := cs.p
	if isLease(cs.m.down) {
		p("\nfunc (s *%s) Recv() (*session.Lease, error) {\n", cs.implName)
		p("\tv := new(session.Lease)\n\tif err := s.st.Recv(v); err != nil {\n")
		p("\t\tif err != io.EOF {\n\t\t\terr = codec.DecodeError(err)\n\t\t}\n\t\treturn nil, err\n\t}\n\treturn v, nil\n}\n")
		return
	}
	p("\nfunc (s *%s) Recv() (v %s, err error) {\n", cs.implName, cs.down)
	p("\tif err = genrt.RecvCaller(s.st, &s.down, %q); err != nil {\n\t\treturn v, err\n\t}\n", cs.n.full)
	p("\treturn s.down.M.v0, nil\n}\n")
}

// open writes Open<Method>, which starts the call and returns its stream.
func (cs *streamClient) open() {
	m, n, p := cs.m, cs.n, cs.p
	p("\n// Open%s starts a call of %s and returns its stream.\n", m.name, n.full)
	cs.c.errorsDoc(cs.w, m)
	p("func (c *%sClient) Open%s(ctx context.Context", cs.s.name, m.name)
	if len(m.params) > 0 {
		p(", %s", cs.c.list("a", m.params, true))
	}
	p(") (%s, error) {\n", cs.ifaceName)
	p("\targs := %s_args{", n.base)
	for i := range m.params {
		p("a%d: a%d, ", i, i)
	}
	p("}\n")
	p("\tst, err := c.conn.NewStream(ctx, %s_id, &args, %v)\n", n.base, m.up == nil)
	p("\tif err != nil {\n\t\treturn nil, codec.DecodeError(err)\n\t}\n")
	p("\treturn &%s{st: st}, nil\n}\n", cs.implName)
}

// call writes the service interface's method, which drives the stream
// with the funcs it is given, by call shape.
func (cs *streamClient) call() {
	m, p := cs.m, cs.p
	np := len(m.params)
	p("\n// %s calls %s through Open%s", m.name, cs.n.full, m.name)
	switch m.kind {
	case kServerStream:
		p(", passing each message the\n// handler sends to a%d; an error from a%d ends the call and is returned.\n", np, np)
	case kClientStream:
		p(", sending what a%d returns\n// until it returns io.EOF (another error abandons the call and is returned).\n", np)
	case kBidiStream:
		p(": a goroutine sends what\n// a%d returns until it returns io.EOF (another error abandons the call),\n", np)
		p("// while each message the handler sends goes to a%d (an error from it\n", np+1)
		p("// abandons the call). It returns once the call has ended and a%d has\n", np)
		p("// returned, so a%d must return when ctx is done.\n", np)
	}
	if m.down != nil && isLease(m.down) {
		p("// Each lease a%d is given is a view of the received bytes: it must\n// Release it.\n", np+btoi(m.up != nil))
	}
	p("func (c *%sClient) %s(ctx context.Context", cs.s.name, m.name)
	for i, t := range m.params {
		p(", a%d %s", i, cs.c.typ(t))
	}
	switch m.kind {
	case kServerStream:
		p(", a%d func(%s) error) error {\n", np, cs.down)
	case kClientStream:
		p(", a%d func() (%s, error)) (", np, cs.up)
		for i, t := range cs.rtypes {
			p("r%d %s, ", i, t)
		}
		p("err error) {\n")
	case kBidiStream:
		p(", a%d func() (%s, error), a%d func(%s) error) error {\n", np, cs.up, np+1, cs.down)
	}
	p("\tst, err := c.Open%s(ctx", m.name)
	for i := range m.params {
		p(", a%d", i)
	}
	p(")\n\tif err != nil {\n\t\treturn %serr\n\t}\n\tdefer st.Close()\n", cs.c.retPrefix(len(cs.rtypes)))
	switch m.kind {
	case kServerStream:
		cs.callServerStream(np)
	case kClientStream:
		cs.callClientStream(np)
	case kBidiStream:
		cs.callBidiStream(np)
	}
}

func (cs *streamClient) callServerStream(np int) {
	p := cs.p
	p("\tfor {\n\t\tv, err := st.Recv()\n\t\tif err == io.EOF {\n\t\t\treturn nil\n\t\t}\n")
	p("\t\tif err != nil {\n\t\t\treturn err\n\t\t}\n")
	p("\t\tif err = a%d(v); err != nil {\n\t\t\treturn err\n\t\t}\n\t}\n}\n", np)
}

func (cs *streamClient) callClientStream(np int) {
	p := cs.p
	ret := cs.c.retPrefix(len(cs.rtypes))
	p("\tfor {\n\t\tv, rerr := a%d()\n\t\tif rerr == io.EOF {\n\t\t\tbreak\n\t\t}\n", np)
	p("\t\tif rerr != nil {\n\t\t\treturn %srerr\n\t\t}\n", ret)
	p("\t\tif err = st.Send(v); err == io.EOF {\n\t\t\tbreak\n\t\t} else if err != nil {\n\t\t\treturn %serr\n\t\t}\n\t}\n", ret)
	p("\treturn st.CloseAndRecv()\n}\n")
}

func (cs *streamClient) callBidiStream(np int) {
	p := cs.p
	p("\tpumped := make(chan error, 1)\n\tgo func() { pumped <- genrt.Pump(st, a%d) }()\n", np)
	p("\tfor {\n\t\tv, rerr := st.Recv()\n\t\tif rerr == nil {\n\t\t\tif err = a%d(v); err == nil {\n\t\t\t\tcontinue\n\t\t\t}\n\t\t\tst.Close()\n\t\t}\n", np+1)
	p("\t\tperr := <-pumped\n")
	p("\t\tswitch {\n\t\tcase err != nil:\n\t\t\treturn err\n\t\tcase perr != nil:\n\t\t\treturn perr\n\t\tcase rerr == io.EOF:\n\t\t\treturn nil\n\t\t}\n\t\treturn rerr\n\t}\n}\n")
}
