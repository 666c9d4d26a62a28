package otelplexus

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Option configures NewInterceptor.
type Option func(*config)

// config is what the options set; NewInterceptor reads it once.
type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go; default otel.GetTracerProvider()
// at the time NewInterceptor runs (the global one delegates to a provider
// set later, so an interceptor made before otel.SetTracerProvider still
// reaches it).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets where metrics go; default otel.GetMeterProvider(),
// which delegates as the tracer provider does.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithPropagators sets how the trace context travels in call metadata;
// default propagation.TraceContext{} (the W3C traceparent and tracestate
// keys). Not the global propagator by default: that one propagates
// nothing until the program sets it, and a trace that silently stops at
// the process boundary is the failure this package exists to prevent.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

func newConfig(opts []Option) config {
	c := config{}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.prop == nil {
		c.prop = propagation.TraceContext{}
	}
	return c
}
