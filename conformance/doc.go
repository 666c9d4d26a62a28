// Package conformance is the behavioural conformance suite of the plexus
// session layer: named scenarios (unary round trips, metadata, errors,
// cancellation, deadlines, flow control, large and oversize payloads,
// concurrency, long streams, notifications, drain, keepalive, peer death,
// protocol violations), each run against every transport in both roles.
//
// An Env supplies links: the caller's end of a transport, and control of
// the callee end, which runs Serve. Run drives each scenario from the
// caller's end, wrapped in a Blackhole and a session of the scenario's
// role; the callee serves the suite's Test and Control services (see
// RegisterServices). The caller's end serves the same services, so calls
// go both ways on one link.
//
// Process boundary: the scenario body never touches the callee's memory.
// Everything it learns or asks of the callee goes through RPCs (MethodDo,
// or MethodScript while the link refuses new calls), and PeerControl only
// kills it or waits for its end. LinkOptions is plain data. An env may
// therefore run Serve in a child process (internal/xproc) and pass the
// options along; InProcess runs it in this process.
//
// Lifetime: every subtest gets a fresh link. When the scenario returns (or
// fails), the suite closes the caller's session, waits (boundedly) for the
// callee to end, and then checks that the process's goroutine count is
// back to what it was before the subtest, dumping every goroutine if not.
// The env's own cleanup runs after that, through t.Cleanup.
//
// Concurrency: subtests run one after another, never in parallel, because
// the leak check counts the whole process's goroutines. Within a scenario,
// helpers that can fail the test (ctl methods, within, require*) are used
// from the test goroutine only; other goroutines report through channels.
// A Services value is safe for concurrent use by its handlers and by the
// scenario body (for the caller's own end).
//
// Timing: every wait is bounded, and bounds are generous (seconds) except
// where a scenario is about time itself (a 100 ms deadline, keepalive),
// so that the suite passes on a loaded machine. Under the race detector the
// 10,000-call and 100,000-item scenarios shrink (race.go).
package conformance
