// Package calc declares the calculator demo's service: the interface the
// plugin implements and the host calls. calc_plexus.go is generated from
// it (the typed client, RegisterCalculator and CalculatorServiceDesc);
// errors_gen.go by msgp from errors.go.
//
// Lifetime and concurrency: the generated client may be used by any number
// of goroutines at once, as the session.Conn under it may; a registered
// implementation is called concurrently, one goroutine per call, and
// lives as long as the session that serves it.
package calc
