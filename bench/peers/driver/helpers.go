package driver

import (
	"github.com/plexus-ipc/plexus/internal/loadgen"
	"github.com/plexus-ipc/plexus/internal/ringfloor"
)

// The loaded conditions are the main module's (internal/loadgen), so that
// plexus bench measures beside the same load.
const (
	CondIdle  = loadgen.Idle
	CondBusy  = loadgen.Busy
	CondAlloc = loadgen.Alloc
)

// AllConditions lists the conditions in their table order.
var AllConditions = loadgen.Conditions

// conditionLabel describes each condition in the report.
var conditionLabel = loadgen.Label

// MaybeHelper turns the process into a load helper, or the bare ring's echo
// peer, and exits if the driver started it as one; it returns at once
// otherwise.
func MaybeHelper() {
	loadgen.MaybeHelper()
	ringfloor.MaybeServe()
}

// StartCondition starts the helpers of cond and returns the function that
// stops them, which reports whether they ran throughout. The process must
// call MaybeHelper first thing in main (the helpers are re-executions of
// it).
func StartCondition(cond string) (stop func() error, err error) { return loadgen.Start(cond) }
