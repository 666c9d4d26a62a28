package conformance

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
	"github.com/plexus-ipc/plexus/transport/stream/transporttest"
)

// Service names. Both ends of every link serve both services, so that calls
// can go in both directions on one link (nested calls, drain).
const (
	TestService    = "conformance.Test"
	ControlService = "conformance.Control"
)

// Method IDs of the services.
var (
	// Echo returns its request unchanged.
	MethodEcho = plexus.MethodID(TestService, "Echo")
	// Metadata returns the request's metadata as JSON and sets a trailer
	// echoing it ("echo-<key>") plus "body" = the request.
	MethodMetadata = plexus.MethodID(TestService, "Metadata")
	// DecodeInt decodes its request as exactly 8 bytes (little-endian
	// uint64) and returns the value plus one; anything else is
	// INVALID_ARGUMENT.
	MethodDecodeInt = plexus.MethodID(TestService, "DecodeInt")
	// Panic panics with "conformance panic: <request>".
	MethodPanic = plexus.MethodID(TestService, "Panic")
	// Grow returns a response of the size its 8-byte request names.
	MethodGrow = plexus.MethodID(TestService, "Grow")
	// Block records the handler's deadline under the request (a key),
	// counts "started/<key>", and blocks until the key is released (it
	// then returns "released:<key>") or its context ends (it then counts
	// "canceled/<key>").
	MethodBlock = plexus.MethodID(TestService, "Block")
	// CallBack (request: JSON CallBackRequest) calls Method of the peer's
	// Test service with its own context and returns that call's response
	// or status; it records its deadline and counts started and canceled
	// like Block.
	MethodCallBack = plexus.MethodID(TestService, "CallBack")
	// Generate (server stream; first message: JSON GenerateRequest) sends
	// Count items of Size bytes, counting "sent/<key>" after each Send,
	// and sets the trailer "sent" (plus the echo of the request metadata).
	MethodGenerate = plexus.MethodID(TestService, "Generate")
	// Consume (client stream) checks that the items it receives are
	// items 0, 1, 2, ... and answers with the count as 8 bytes.
	MethodConsume = plexus.MethodID(TestService, "Consume")
	// BidiEcho (bidi stream) sends back every message it receives.
	MethodBidiEcho = plexus.MethodID(TestService, "BidiEcho")
	// PanicStream is a stream handler that panics.
	MethodPanicStream = plexus.MethodID(TestService, "PanicStream")
	// Note (notification; JSON NoteMessage) appends the sequence number to
	// the key's list and counts "notes/<key>".
	MethodNote = plexus.MethodID(TestService, "Note")

	// CloseSession (notification) makes the end that receives it close its
	// session, as a peer that shuts down with calls in flight.
	MethodCloseSession = plexus.MethodID(TestService, "CloseSession")

	// Do runs one control Command (JSON) and answers with a Reply (JSON).
	MethodDo = plexus.MethodID(ControlService, "Do")
	// Script runs control Commands received on a bidi stream, one Reply
	// each: a channel for the scenario body that stays usable while the
	// link refuses new calls (drain).
	MethodScript = plexus.MethodID(ControlService, "Script")
)

// GenerateRequest is the first message of Generate.
type GenerateRequest struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
	Size  int    `json:"size"`
}

// CallBackRequest is the request of CallBack.
type CallBackRequest struct {
	Key    string `json:"key"`    // counters and deadline of the CallBack handler
	Method string `json:"method"` // method of the peer's Test service
	Req    []byte `json:"req"`
}

// NoteMessage is the message of the Note notification.
type NoteMessage struct {
	Key string `json:"key"`
	Seq int64  `json:"seq"`
}

// Command is a control operation. Op is one of:
//
//	counter  Value = counter Key
//	wait     wait up to Timeout until counter Key >= Min; Value = counter
//	release  release the Block (and CallBack) handlers of Key, now and later
//	deadline HasDeadline and Remaining as seen by the handler of Key at its start
//	notes    Values = the sequence numbers of Key's notes, in arrival order
//	call     call Method of the peer's Test service with Req now (Timeout
//	         bounds it); Code, Message and Data are its outcome
//	spawn    like call, in the background; its outcome is stored under Key
//	result   wait up to Timeout for the outcome of spawn Key
type Command struct {
	Op      string        `json:"op"`
	Key     string        `json:"key,omitempty"`
	Min     int64         `json:"min,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Method  string        `json:"method,omitempty"`
	Req     []byte        `json:"req,omitempty"`
}

// Reply is the outcome of a Command. Err is set when the command itself
// failed (unknown op, wait timed out); it is not an RPC error, so that a
// Script stream survives it.
type Reply struct {
	Value       int64         `json:"value,omitempty"`
	Values      []int64       `json:"values,omitempty"`
	HasDeadline bool          `json:"has_deadline,omitempty"`
	Remaining   time.Duration `json:"remaining,omitempty"`
	Code        plexus.Code   `json:"code,omitempty"`
	Message     string        `json:"message,omitempty"`
	Data        []byte        `json:"data,omitempty"`
	Err         string        `json:"err,omitempty"`
}

// Services is the state behind the suite's services on one end of a link.
// The scenario body reaches the callee's Services only through MethodDo
// and MethodScript; it may use its own end's Services directly.
type Services struct {
	mu        sync.Mutex
	counters  map[string]int64
	changed   chan struct{} // closed and replaced whenever a counter moves
	gates     map[string]chan struct{}
	deadlines map[string]DeadlineSeen
	notes     map[string][]int64
	spawned   map[string]*spawnedCall

	bound chan struct{} // closed by Bind
	sess  *session.Session
}

// DeadlineSeen is what a handler saw of its deadline when it started.
type DeadlineSeen struct {
	OK        bool
	At        time.Time     // ctx.Deadline()
	Remaining time.Duration // time.Until(At) at the handler's start
	Start     time.Time     // when the handler started
}

type spawnedCall struct {
	done  chan struct{}
	reply Reply
}

// RegisterServices registers the Test and Control services on mux and
// returns their state. Call Bind with the session serving mux once it
// exists: the call-back operations need it.
func RegisterServices(mux *session.Mux) (*Services, error) {
	s := &Services{
		counters:  map[string]int64{},
		changed:   make(chan struct{}),
		gates:     map[string]chan struct{}{},
		deadlines: map[string]DeadlineSeen{},
		notes:     map[string][]int64{},
		spawned:   map[string]*spawnedCall{},
		bound:     make(chan struct{}),
	}
	if err := register(mux.HandleUnary, []handler[session.UnaryHandler]{
		{TestService, "Echo", s.echo},
		{TestService, "Metadata", s.metadata},
		{TestService, "DecodeInt", s.decodeInt},
		{TestService, "Panic", s.doPanic},
		{TestService, "Grow", s.grow},
		{TestService, "Block", s.block},
		{TestService, "CallBack", s.callBack},
		{ControlService, "Do", s.do},
	}); err != nil {
		return nil, err
	}
	if err := register(mux.HandleStream, []handler[session.StreamHandler]{
		{TestService, "Generate", s.generate},
		{TestService, "Consume", s.consume},
		{TestService, "BidiEcho", s.bidiEcho},
		{TestService, "PanicStream", s.panicStream},
		{ControlService, "Script", s.script},
	}); err != nil {
		return nil, err
	}
	if err := register(mux.HandleNotify, []handler[session.NotifyHandler]{
		{TestService, "Note", s.note},
		{TestService, "CloseSession", s.closeSession},
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// handler is one method of the suite's services and its handler, of a
// Mux's handler type H.
type handler[H any] struct {
	svc, name string
	h         H
}

// register registers each of hs with handle: a Mux's HandleUnary,
// HandleStream or HandleNotify.
func register[H any](handle func(service, method string, h H) (uint64, error), hs []handler[H]) error {
	for _, x := range hs {
		if _, err := handle(x.svc, x.name, x.h); err != nil {
			return err
		}
	}
	return nil
}

// Bind gives the services the session that serves them, for calls back to
// the peer. Call it once, right after session.New.
func (s *Services) Bind(sess *session.Session) {
	s.sess = sess
	close(s.bound)
}

func (s *Services) session(ctx context.Context) (*session.Session, error) {
	select {
	case <-s.bound:
		return s.sess, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Add adds n to a counter.
func (s *Services) Add(key string, n int64) {
	s.mu.Lock()
	s.counters[key] += n
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// Counter returns a counter's value.
func (s *Services) Counter(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counters[key]
}

// WaitCounter waits until counter key is at least min or ctx ends, and
// returns the counter's value.
func (s *Services) WaitCounter(ctx context.Context, key string, min int64) (int64, error) {
	for {
		s.mu.Lock()
		v, ch := s.counters[key], s.changed
		s.mu.Unlock()
		if v >= min {
			return v, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return v, fmt.Errorf("counter %q is %d, want >= %d: %w", key, v, min, ctx.Err())
		}
	}
}

// Release lets the Block handlers of key return, those running and those
// still to come.
func (s *Services) Release(key string) {
	close(s.gate(key))
}

func (s *Services) gate(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.gates[key]
	if !ok {
		g = make(chan struct{})
		s.gates[key] = g
	}
	return g
}

// Deadline returns what the handler of key saw of its deadline.
func (s *Services) Deadline(key string) DeadlineSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadlines[key]
}

// Notes returns the sequence numbers of key's notes in arrival order.
func (s *Services) Notes(key string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.notes[key]...)
}

func (s *Services) recordDeadline(ctx context.Context, key string) {
	now := time.Now()
	dl, ok := ctx.Deadline()
	seen := DeadlineSeen{OK: ok, At: dl, Start: now}
	if ok {
		seen.Remaining = dl.Sub(now)
	}
	s.mu.Lock()
	s.deadlines[key] = seen
	s.mu.Unlock()
}

// Handlers.

func (s *Services) echo(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	// req is only valid until the handler returns, and the response is
	// encoded after that: copy.
	return plexus.Raw(bytes.Clone(req)), nil
}

func (s *Services) metadata(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	md := plexus.IncomingMetadata(ctx)
	if err := session.SetTrailer(ctx, echoTrailer(md, plexus.Metadata{"body": string(req)})); err != nil {
		return nil, err
	}
	if md == nil {
		md = plexus.Metadata{}
	}
	b, err := json.Marshal(md)
	return plexus.Raw(b), err
}

func echoTrailer(in, extra plexus.Metadata) plexus.Metadata {
	out := plexus.Metadata{}
	for k, v := range in {
		out["echo-"+k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func (s *Services) decodeInt(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	if len(req) != 8 {
		return nil, plexus.Errorf(plexus.InvalidArgument, "DecodeInt: want 8 bytes, got %d", len(req))
	}
	return plexus.Raw(binary.LittleEndian.AppendUint64(nil, binary.LittleEndian.Uint64(req)+1)), nil
}

func (s *Services) doPanic(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	panic("conformance panic: " + string(req))
}

func (s *Services) grow(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	if len(req) != 8 {
		return nil, plexus.Errorf(plexus.InvalidArgument, "Grow: want 8 bytes, got %d", len(req))
	}
	n := binary.LittleEndian.Uint64(req)
	if n > 1<<30 {
		return nil, plexus.Errorf(plexus.InvalidArgument, "Grow: %d bytes is too much", n)
	}
	return plexus.Raw(transporttest.Pattern(int(n), n)), nil
}

func (s *Services) block(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	key := string(req)
	s.recordDeadline(ctx, key)
	s.Add("started/"+key, 1)
	select {
	case <-s.gate(key):
		return plexus.Raw("released:" + key), nil
	case <-ctx.Done():
		s.Add("canceled/"+key, 1)
		return nil, ctx.Err()
	}
}

func (s *Services) callBack(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	var r CallBackRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "CallBack: %v", err)
	}
	s.recordDeadline(ctx, r.Key)
	s.Add("started/"+r.Key, 1)
	sess, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	var resp plexus.Raw
	err = sess.Invoke(ctx, plexus.MethodID(TestService, r.Method), plexus.Raw(r.Req), &resp)
	if ctx.Err() != nil {
		s.Add("canceled/"+r.Key, 1)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// sendFailed is called by a stream handler whose Send failed: when the
// caller went away, the handler's context ends too, slightly after the
// send window closed; the counter records that the handler saw it.
func (s *Services) sendFailed(ctx context.Context, key string) {
	select {
	case <-ctx.Done():
		s.Add("canceled/"+key, 1)
	case <-time.After(10 * time.Second):
	}
}

func (s *Services) generate(ctx context.Context, st *session.Stream) error {
	var raw plexus.Raw
	if err := st.Recv(&raw); err != nil {
		return err
	}
	var r GenerateRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		return plexus.Errorf(plexus.InvalidArgument, "Generate: %v", err)
	}
	s.Add("started/"+r.Key, 1)
	buf := make([]byte, 0, max(r.Size, itemHeader))
	for i := range r.Count {
		buf = appendItem(buf[:0], uint64(i), r.Size)
		if err := st.Send(plexus.Raw(buf)); err != nil {
			s.sendFailed(ctx, r.Key)
			return err
		}
		s.Add("sent/"+r.Key, 1)
	}
	return session.SetTrailer(ctx, echoTrailer(plexus.IncomingMetadata(ctx), plexus.Metadata{"sent": fmt.Sprint(r.Count)}))
}

func (s *Services) consume(ctx context.Context, st *session.Stream) error {
	var m plexus.Raw
	var n uint64
	for {
		err := st.Recv(&m)
		if err == io.EOF {
			return st.Send(plexus.Raw(binary.LittleEndian.AppendUint64(nil, n)))
		}
		if err != nil {
			return err
		}
		if err := checkItem(n, m); err != nil {
			return plexus.Errorf(plexus.DataLoss, "Consume: %v", err)
		}
		n++
	}
}

func (s *Services) bidiEcho(ctx context.Context, st *session.Stream) error {
	var m plexus.Raw
	for {
		err := st.Recv(&m)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(m); err != nil {
			return err
		}
	}
}

func (s *Services) panicStream(ctx context.Context, st *session.Stream) error {
	var m plexus.Raw
	if err := st.Recv(&m); err != nil {
		return err
	}
	panic("conformance stream panic: " + string(m))
}

func (s *Services) note(ctx context.Context, msg []byte) {
	var n NoteMessage
	if err := json.Unmarshal(msg, &n); err != nil {
		s.Add("notes-bad", 1)
		return
	}
	s.mu.Lock()
	s.notes[n.Key] = append(s.notes[n.Key], n.Seq)
	s.mu.Unlock()
	s.Add("notes/"+n.Key, 1)
}

func (s *Services) closeSession(ctx context.Context, msg []byte) {
	if sess, err := s.session(ctx); err == nil {
		_ = sess.Close()
	}
}

// Control.

func (s *Services) do(ctx context.Context, req []byte) (plexus.Marshaler, error) {
	var c Command
	if err := json.Unmarshal(req, &c); err != nil {
		return nil, plexus.Errorf(plexus.InvalidArgument, "Do: %v", err)
	}
	b, err := json.Marshal(s.Do(ctx, c))
	return plexus.Raw(b), err
}

func (s *Services) script(ctx context.Context, st *session.Stream) error {
	var m plexus.Raw
	for {
		err := st.Recv(&m)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var c Command
		if err := json.Unmarshal(m, &c); err != nil {
			return plexus.Errorf(plexus.InvalidArgument, "Script: %v", err)
		}
		b, err := json.Marshal(s.Do(ctx, c))
		if err != nil {
			return err
		}
		if err := st.Send(plexus.Raw(b)); err != nil {
			return err
		}
	}
}

// defaultTimeout bounds control commands that wait and calls they make
// when the command names no timeout.
const defaultTimeout = 20 * time.Second

// Do runs one control command on this end (see Command).
func (s *Services) Do(ctx context.Context, c Command) Reply {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	switch c.Op {
	case "counter":
		return Reply{Value: s.Counter(c.Key)}
	case "wait":
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v, err := s.WaitCounter(wctx, c.Key, c.Min)
		if err != nil {
			return Reply{Value: v, Err: err.Error()}
		}
		return Reply{Value: v}
	case "release":
		s.Release(c.Key)
		return Reply{}
	case "deadline":
		d := s.Deadline(c.Key)
		return Reply{HasDeadline: d.OK, Remaining: d.Remaining}
	case "notes":
		return Reply{Values: s.Notes(c.Key)}
	case "call":
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return s.call(cctx, c)
	case "spawn":
		sc := &spawnedCall{done: make(chan struct{})}
		s.mu.Lock()
		if _, dup := s.spawned[c.Key]; dup {
			s.mu.Unlock()
			return Reply{Err: "spawn: duplicate key " + c.Key}
		}
		s.spawned[c.Key] = sc
		s.mu.Unlock()
		go func() {
			// Not tied to the Do call's context, which ends when Do
			// answers; the session's end fails the call anyway.
			cctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			sc.reply = s.call(cctx, c)
			close(sc.done)
		}()
		return Reply{}
	case "result":
		s.mu.Lock()
		sc := s.spawned[c.Key]
		s.mu.Unlock()
		if sc == nil {
			return Reply{Err: "result: no spawned call " + c.Key}
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-sc.done:
			return sc.reply
		case <-t.C:
			return Reply{Err: "result: spawned call " + c.Key + " still running"}
		case <-ctx.Done():
			return Reply{Err: "result: " + ctx.Err().Error()}
		}
	}
	return Reply{Err: fmt.Sprintf("unknown op %q", c.Op)}
}

func (s *Services) call(ctx context.Context, c Command) Reply {
	sess, err := s.session(ctx)
	if err != nil {
		return Reply{Code: plexus.CodeOf(err), Message: err.Error()}
	}
	var resp plexus.Raw
	err = sess.Invoke(ctx, plexus.MethodID(TestService, c.Method), plexus.Raw(c.Req), &resp)
	r := Reply{Code: plexus.CodeOf(err), Data: resp}
	if err != nil {
		r.Message = err.Error()
		var st *plexus.Status
		if errors.As(err, &st) {
			r.Message = st.Message
		}
	}
	return r
}

// Items of streams: an 8-byte index followed by a pattern derived from it,
// so that a lost, duplicated, reordered or corrupted message is caught.

const itemHeader = 8

func appendItem(b []byte, i uint64, size int) []byte {
	size = max(size, itemHeader)
	b = binary.LittleEndian.AppendUint64(b, i)
	n := len(b)
	b = append(b, make([]byte, size-itemHeader)...)
	transporttest.Fill(b[n:], i)
	return b
}

func checkItem(i uint64, b []byte) error {
	if len(b) < itemHeader {
		return fmt.Errorf("item %d: %d bytes", i, len(b))
	}
	if got := binary.LittleEndian.Uint64(b); got != i {
		return fmt.Errorf("item %d: got index %d", i, got)
	}
	want := make([]byte, len(b)-itemHeader)
	transporttest.Fill(want, i)
	if !bytes.Equal(want, b[itemHeader:]) {
		return fmt.Errorf("item %d: payload corrupted", i)
	}
	return nil
}
