// Package otelplexus traces and measures plexus calls with OpenTelemetry:
// a session.Interceptor that gives every call a span on each side, carries
// the trace context across the link in the call's metadata, so that a
// call from a host into a plugin and the plugin's callbacks into the host
// make one trace across the two processes, and records each call's count,
// duration and bytes.
//
// It is a module of its own, so that programs that do not use
// OpenTelemetry neither link nor download it:
//
//	go get github.com/plexus-ipc/plexus/otelplexus
//
// Give an interceptor to each end of the link, in the host and in the
// plugin (each process with its own providers):
//
//	// host
//	host.Config{..., Interceptors: []session.Interceptor{otelplexus.NewInterceptor()}}
//	// plugin
//	plugin.ServeConfig{..., Interceptors: []session.Interceptor{otelplexus.NewInterceptor()}}
//
// Without options the interceptor uses the otel global providers. A
// serving side whose caller sent no trace context (no interceptor there)
// starts a trace with its server span.
//
// Options choose the tracer provider, the meter provider (default: the
// otel globals, which delegate to providers set later) and the propagator
// (default propagation.TraceContext{}: the W3C "traceparent" and
// "tracestate" metadata keys).
//
// Spans: one per call and side, named after the method ("otest.Plugin.
// Outer", as CallInfo.Name has it), or "plexus.call/0x<method ID in hex>"
// where that side does not know the name (a call to a method the caller's
// Config.Peer, host.Config.Versions or plugin.ServeConfig.HostServices does
// not describe; the link's own plexus.Link.Shutdown, which the host
// calls at Close, is named after SPEC.md's reserved service). The calling
// side's span is of kind Client, a child of the span in the caller's
// context; the serving side's of kind Server, a child of the calling
// span, whose context came in the metadata. Their attributes (rpc.* as
// the OpenTelemetry RPC conventions up to semconv 1.38 name them, and the
// status code under the key semconv 1.39 gives it):
//
//	rpc.system               "plexus"
//	rpc.service, rpc.method  the name split at its last dot ("otest.Plugin", "Outer");
//	                         without a name, rpc.method is the ID in hex
//	plexus.method_id         the method ID in hex ("0x1a2b...")
//	plexus.method_kind       unary, server_stream, client_stream, bidi_stream or notification
//	rpc.response.status_code the final status code's name: "OK", "NOT_FOUND", ...
//
// A call that ends with a status other than OK sets the span's status to
// Error with the status message (or the code's name when it has none), on
// both sides: plexus has no codes that count as a success of the serving
// side, as some of gRPC's do in its conventions.
//
// Metrics, each with the attributes rpc.system, rpc.service, rpc.method,
// plexus.side ("calling" or "serving") and rpc.response.status_code:
//
//	plexus.rpc.calls          counter, {call}: calls ended
//	plexus.rpc.duration       histogram, s: Start to End of the interceptor
//	                          (buckets from 1 µs to 10 s)
//	plexus.rpc.request.size   counter, By: payload bytes the caller sent
//	plexus.rpc.response.size  counter, By: payload bytes the serving side sent
//
// Bytes are those of session.CallEnd (messages, metadata and status
// bodies, not descriptors); the metadata this package adds is among them.
// Exported to Prometheus the names read plexus_rpc_calls_total,
// plexus_rpc_duration_seconds, plexus_rpc_request_size_bytes_total and
// plexus_rpc_response_size_bytes_total.
//
// The host's plugins and links: ObserveHost registers observable
// instruments that read, at each collection, host.Inspect's figures of
// every live client of the process (no plugin is asked anything):
// plexus.plugin.starts, .restarts and .deaths (counters),
// plexus.link.calls_in_flight (plexus.direction out or in),
// plexus.link.ring.fill (tx or rx), plexus.link.slots.in_use (plexus.pool
// own or peer, plexus.slot_size), plexus.link.leases, plexus.link.blobs
// (plexus.blob_state) and plexus.link.blob.bytes, each with plexus.plugin
// (the client's name) and plexus.link (its link kind); the shared-memory
// figures only on that link.
//
// Cost: BenchmarkUnary (bench_linux_test.go) measures a unary call over
// shared memory without interceptors (none), with this one on both ends
// recording into the SDK (otel), into the SDK's tracer or meter alone
// (traces, metrics), and into no-op providers (noop: the session's
// interceptor bookkeeping and this package's own work). Most of the
// difference is the SDK's work: span creation and its hand-off to the
// exporter, four measurements per side. This package's own per-call work
// is a context and, on the calling side, one metadata map; the names,
// attributes and options of a method are built on its first call and
// cached.
//
// Lifetime: an interceptor holds its tracer, its instruments and a cache
// of what each method's spans and metrics share (an entry per method and
// side, and per status code plexus names: bounded by the methods a side
// calls and serves, whatever codes a peer sends); it has nothing to close, and lives as long as the sessions
// that use it. Spans and metrics go to the providers, whose shutdown
// (flushing what they buffered) is the program's.
//
// Concurrency: NewInterceptor's result is safe for concurrent use by any
// number of calls and sessions. A call's state lives in the context its
// Start returns and is read by its End alone; the cache is read without
// locks.
package otelplexus
