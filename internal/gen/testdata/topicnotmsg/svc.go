package svc

// Plain has no msgp methods.
//
//plexus:topic a.b
type Plain struct{ X int }
