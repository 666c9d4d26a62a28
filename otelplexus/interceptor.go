package otelplexus

import (
	"context"
	"maps"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/plexus-ipc/plexus/otelplexus"

// interceptor traces and measures calls; see the package comment.
type interceptor struct {
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	inst    instruments
	methods cowMap[methodKey, *method]
}

// NewInterceptor returns an interceptor that traces every call of the
// sessions it is given to (a span per call and side, the trace context
// carried in the call's metadata) and measures them (calls, duration,
// bytes). Give it to both ends: host.Config.Interceptors and
// plugin.ServeConfig.Interceptors, or session.Config.Interceptors. It is
// safe for concurrent use, and one interceptor may serve any number of
// sessions.
func NewInterceptor(opts ...Option) session.Interceptor {
	cfg := newConfig(opts)
	return &interceptor{
		tracer: cfg.tp.Tracer(ScopeName),
		prop:   cfg.prop,
		inst:   newInstruments(cfg.mp.Meter(ScopeName)),
	}
}

// call is one call's state from Start to End. It is the context Start
// returns, so that End, which is given that context back, has it without a
// lookup, and one allocation makes the state and the context that carries
// it (context.WithValue would take two). The handler (serving side), the
// interceptors after this one and nested calls see the span through the
// embedded context, which Value falls through to.
type call struct {
	context.Context
	span  trace.Span
	start time.Time
	m     *method
}

// callKey finds a call in a context that wraps it.
type callKey struct{}

func (c *call) Value(key any) any {
	if key == (callKey{}) {
		return c
	}
	return c.Context.Value(key)
}

func (ic *interceptor) method(info *session.CallInfo) *method {
	k := methodKey{id: info.Method, name: info.Name, kind: info.Kind, side: info.Side}
	return ic.methods.get(k, func() *method { return newMethod(info) })
}

// Start begins the call's span: on the calling side a client span, child
// of the caller's, whose context is added to the call's metadata; on the
// serving side a server span, child of the context the metadata carried.
func (ic *interceptor) Start(ctx context.Context, info *session.CallInfo) (context.Context, error) {
	start := time.Now()
	m := ic.method(info)
	if info.Side == session.Serving {
		ctx = ic.prop.Extract(ctx, carrier(plexus.IncomingMetadata(ctx)))
	}
	ctx, span := ic.tracer.Start(ctx, m.spanName, m.spanStart...)
	if info.Side == session.Calling {
		ctx = ic.inject(ctx)
	}
	return &call{Context: ctx, span: span, start: start, m: m}, nil
}

// inject adds what the propagator writes for ctx's span to the metadata
// the call sends, leaving the caller's metadata as it is: it may be shared
// by other calls (one WithMetadata context used from many goroutines).
// Nothing written (no valid span, a no-op tracer), nothing changes.
func (ic *interceptor) inject(ctx context.Context) context.Context {
	add := carrier{}
	ic.prop.Inject(ctx, add)
	if len(add) == 0 {
		return ctx
	}
	md := plexus.Metadata(add)
	if old := plexus.OutgoingMetadata(ctx); len(old) > 0 {
		md = make(plexus.Metadata, len(old)+len(add))
		maps.Copy(md, old)
		maps.Copy(md, add)
	}
	return plexus.WithMetadata(ctx, md)
}

// End ends the span, with an error status when the call failed, and
// records the call's metrics.
func (ic *interceptor) End(ctx context.Context, info *session.CallInfo, end *session.CallEnd) {
	c, ok := ctx.(*call)
	if !ok {
		// Not the context Start returned: the session promises it, but
		// a wrapped one still holds the call.
		if c, ok = ctx.Value(callKey{}).(*call); !ok {
			return
		}
	}
	elapsed := time.Since(c.start).Seconds()
	code := plexus.OK
	if st := end.Status; st != nil {
		code = st.Code
		msg := st.Message
		if msg == "" {
			msg = code.String()
		}
		c.span.SetStatus(codes.Error, msg)
	}
	o := c.m.outcome(code)
	c.span.SetAttributes(o.code...)
	c.span.End()

	// The request is what the caller sent, the response what the serving
	// side sent, whichever side records them.
	req, resp := end.Sent, end.Received
	if info.Side == session.Serving {
		req, resp = end.Received, end.Sent
	}
	ic.inst.calls.Add(c, 1, o.add...)
	ic.inst.duration.Record(c, elapsed, o.record...)
	ic.inst.request.Add(c, req, o.add...)
	ic.inst.response.Add(c, resp, o.add...)
}
