//go:build !linux

package session

// yieldProcessor does nothing where no transport rings doorbells (only
// the shared-memory transport, Linux only, is a transport.Ringer).
func yieldProcessor() {}

// involuntarySwitches is always 0 here: no caller ever finds its polling
// preempted (see contention).
func involuntarySwitches() int64 { return 0 }
