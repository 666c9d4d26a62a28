package otelplexus

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/plexus-ipc/plexus"
	"github.com/plexus-ipc/plexus/session"
)

// methodKey identifies what a call's telemetry is made of. The name is
// part of it although the ID derives from it: one interceptor may serve
// sessions of which some know a method's name and others do not.
type methodKey struct {
	id   uint64
	name string
	kind plexus.MethodKind
	side session.Side
}

// method is what every call of one methodKey shares, made once: the span's
// name and start options, and, per status code, the metric attributes.
// Making them per call would cost an allocation for each attribute set
// and option on every call.
type method struct {
	spanName  string
	spanStart []trace.SpanStartOption
	base      []attribute.KeyValue // the metrics' attributes but the code
	outcomes  cowMap[plexus.Code, *outcome]
}

// outcome is what End records for a call of one method ending with one
// code.
type outcome struct {
	code   []attribute.KeyValue // rpc.response.status_code, for the span
	add    []metric.AddOption
	record []metric.RecordOption
}

func newMethod(info *session.CallInfo) *method {
	full := nameOf(info)
	service, name := splitName(full)
	if full == "" {
		// Unknown to this side: the ID is all there is. The calls this
		// side makes come from its own code, so IDs stay few.
		name = methodIDString(info.Method)
	}
	kind := trace.SpanKindClient
	if info.Side == session.Serving {
		kind = trace.SpanKindServer
	}
	ids := []attribute.KeyValue{keySystem.String(system)}
	if service != "" {
		ids = append(ids, keyService.String(service))
	}
	ids = append(ids, keyMethod.String(name))
	span := append(append([]attribute.KeyValue(nil), ids...),
		keyMethodID.String(methodIDString(info.Method)), keyMethodKind.String(kindName(info.Kind)))
	return &method{
		spanName:  spanName(info),
		spanStart: []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(span...)},
		base:      append(ids, keySide.String(info.Side.String())),
	}
}

// outcome returns what to record for a call that ended with code c.
func (m *method) outcome(c plexus.Code) *outcome {
	if !knownCode(c) {
		return m.newOutcome(c)
	}
	return m.outcomes.get(c, func() *outcome { return m.newOutcome(c) })
}

func (m *method) newOutcome(c plexus.Code) *outcome {
	code := keyStatusCode.String(codeName(c))
	set := attribute.NewSet(append(append([]attribute.KeyValue(nil), m.base...), code)...)
	opt := metric.WithAttributeSet(set)
	return &outcome{code: []attribute.KeyValue{code}, add: []metric.AddOption{opt}, record: []metric.RecordOption{opt}}
}
